// "What each unit looks for": the channel card (card.js), the map of all digits
// (digit-map.js) and the training replay (scrubber.js), sharing one insight worker
// (insight-client.js, worker.js). Mounted by app.js once the Draw and Train areas are there.
//
// Returns {client, card, map, scrubber, openCard(layer?, channel?)}: openCard opens a channel's
// card as clicking its map would (default: the first channel of the second convolution after
// ReLU, or the first dense unit of a model without convolutions).

import { InsightClient } from './insight-client.js';
import { ChannelCard } from './card.js';
import { DigitMap } from './digit-map.js';
import { TrainingScrubber } from './scrubber.js';

function addStylesheet() {
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = new URL('./insight.css', import.meta.url).href;
  document.head.append(link);
}

export function mountInsight(hub, areas, { mapRoot, trainRoot }) {
  addStylesheet();
  const client = new InsightClient(hub);
  client.addEventListener('error', ({ detail }) => hub.error(`What each unit looks for: ${detail.message}`, 'The rest of the page keeps working; reload to try again.'));
  const card = new ChannelCard(hub, client);
  const map = new DigitMap(mapRoot, hub, client);
  // Next to the curves: after their legend.
  const curves = trainRoot.querySelector('.train-legend') ?? trainRoot.querySelector('.train-charts');
  const scrubber = curves ? new TrainingScrubber(hub, client, curves) : null;

  function openCard(layer, channel = 0) {
    const maps = areas.draw?.maps;
    if (!maps) return;
    const groups = maps.groups;
    // The convolutions' maps after ReLU (what the cards read best), else any convolution's.
    const conv = groups.filter((g) => g.kind === 'spatial' && g.entry?.spec?.type === 'conv2d');
    const relu = conv.filter((g) => g.tap.name.endsWith('.relu'));
    const byDefault = (relu.length ? relu : conv).at(1) ?? conv[0] ?? groups.find((g) => g.kind === 'dense');
    const group = layer ? groups.find((g) => g.tap.name === layer) : byDefault;
    if (!group) return;
    if (group.kind === 'spatial') maps.openDetail(group, channel);
    else hub.dispatchEvent(new CustomEvent('channel', { detail: { layer: group.tap.name, channel, anchor: group.box } }));
  }

  return { client, card, map, scrubber, openCard };
}

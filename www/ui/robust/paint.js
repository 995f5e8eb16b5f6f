// Painting 28×28 digit images (0..1 or 0..255 ink) as dark ink on paper.

/** Paints `pixels` (784 values; ink 0..1, or 0..255 for a Uint8Array) at (x, y), each pixel
 *  `scale` × `scale` canvas pixels. */
export function paintDigit(ctx, pixels, x, y, scale) {
  const image = ctx.createImageData(28 * scale, 28 * scale);
  const bytes = pixels instanceof Uint8Array;
  for (let i = 0; i < 784; i++) {
    const ink = bytes ? pixels[i] / 255 : Math.max(0, Math.min(1, pixels[i]));
    const grey = Math.round(255 * (1 - ink));
    const [px, py] = [i % 28, Math.floor(i / 28)];
    for (let dy = 0; dy < scale; dy++) {
      for (let dx = 0; dx < scale; dx++) {
        const at = ((py * scale + dy) * 28 * scale + px * scale + dx) * 4;
        image.data.set([grey, grey, grey, 255], at);
      }
    }
  }
  ctx.putImageData(image, x, y);
}

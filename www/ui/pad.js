// The drawing pad: a square canvas drawn on with mouse, touch or pen (Pointer Events), crisp
// on high-DPI screens, with undo and clear. Strokes are kept as point lists in pad units
// (0..1), so undo and resizing simply redraw them.
//
// The pad is transparent with dark ink: the recogniser reads ink from the alpha channel, and
// the page background shows through as paper.

/** Stroke width as a fraction of the pad's side: 20 CSS px on a 280 px pad. A digit drawn
 * about two thirds of the pad high is fitted into MNIST's 20 px box, so its strokes become
 * ≈2–3 px wide at 28×28, like MNIST's pen. */
export const STROKE_WIDTH = 20 / 280;
const INK = '#1b1d29';
/** Side of the fixed-size copy the recogniser reads: the same pixels on every screen. */
export const MODEL_SIDE = 280;

export class Pad extends EventTarget {
  /**
   * @param {HTMLCanvasElement} canvas
   * Events: 'change' with detail {kind: 'start'|'move'|'end'|'undo'|'clear'|'set'}.
   */
  constructor(canvas) {
    super();
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    // What the recogniser reads: a fixed 280×280 copy, independent of the screen's pixel
    // density (so a drawing gives the same prediction on a phone and a laptop).
    this.model = document.createElement('canvas');
    this.model.width = this.model.height = MODEL_SIDE;
    this.modelCtx = this.model.getContext('2d', { willReadFrequently: true });
    /** @type {Array<Array<[number, number]>>} finished and current strokes, in 0..1 pad units. */
    this.strokes = [];
    this.drawing = null; // pointerId of the stroke in progress
    this.size = 0;
    this.dpr = 1;
    this.#listen();
    this.resize();
    new ResizeObserver(() => this.resize()).observe(canvas);
    // A move to another screen changes devicePixelRatio without resizing anything.
    this.#watchDpr();
  }

  get isEmpty() {
    return this.strokes.length === 0;
  }

  /** Matches the backing store to the CSS size × devicePixelRatio, then redraws. */
  resize() {
    const rect = this.canvas.getBoundingClientRect();
    const size = Math.max(1, Math.round(rect.width));
    const dpr = Math.max(1, window.devicePixelRatio || 1);
    const px = Math.round(size * dpr);
    if (this.canvas.width !== px || this.canvas.height !== px) {
      this.canvas.width = px;
      this.canvas.height = px;
    }
    this.size = size;
    this.dpr = dpr;
    this.redraw();
  }

  #watchDpr() {
    const query = matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
    query.addEventListener(
      'change',
      () => {
        this.resize();
        this.#watchDpr();
      },
      { once: true },
    );
  }

  #setStyle() {
    for (const ctx of [this.ctx, this.modelCtx]) {
      const px = ctx.canvas.width;
      ctx.setTransform(px, 0, 0, px, 0, 0); // draw in pad units (0..1)
      ctx.lineCap = 'round';
      ctx.lineJoin = 'round';
      ctx.lineWidth = STROKE_WIDTH;
      ctx.strokeStyle = INK;
      ctx.fillStyle = INK;
    }
  }

  redraw() {
    for (const ctx of [this.ctx, this.modelCtx]) {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
    }
    this.#setStyle();
    for (const stroke of this.strokes) this.#drawStroke(stroke, 0);
  }

  #drawStroke(stroke, from) {
    this.#drawStrokeOn(this.ctx, stroke, from);
    this.#drawStrokeOn(this.modelCtx, stroke, from);
  }

  #drawStrokeOn(ctx, stroke, from) {
    if (stroke.length === 1) {
      ctx.beginPath();
      ctx.arc(stroke[0][0], stroke[0][1], STROKE_WIDTH / 2, 0, Math.PI * 2);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    const start = Math.max(0, from - 1);
    ctx.moveTo(stroke[start][0], stroke[start][1]);
    for (let i = start + 1; i < stroke.length; i++) ctx.lineTo(stroke[i][0], stroke[i][1]);
    ctx.stroke();
  }

  #point(e) {
    const rect = this.canvas.getBoundingClientRect();
    return [(e.clientX - rect.left) / rect.width, (e.clientY - rect.top) / rect.height];
  }

  #emit(kind) {
    this.dispatchEvent(new CustomEvent('change', { detail: { kind } }));
  }

  #listen() {
    const c = this.canvas;
    c.addEventListener('pointerdown', (e) => {
      if (e.pointerType === 'mouse' && e.button !== 0) return;
      // Another finger while one draws is ignored. The same pointer pressing again means its
      // stroke ended unseen (its release went elsewhere): that stroke is over, a new one begins.
      if (this.drawing !== null && e.pointerId !== this.drawing) return;
      e.preventDefault();
      // A text selection left around the pad (a stroke begun on a button's label and dragged
      // in) would turn this press into dragging that selection: the browser cancels the
      // pointer at once, and every later stroke too. Drop the selection; take the focus, so
      // the pad's keys (Delete, Ctrl+Z) apply to it rather than to the button.
      document.getSelection()?.removeAllRanges();
      // (No focus ring for a pen: it shows where keyboard focus went, not where one draws.)
      if (document.activeElement !== c) c.focus({ preventScroll: true, focusVisible: false });
      this.drawing = e.pointerId;
      try {
        c.setPointerCapture(e.pointerId);
      } catch {
        /* synthetic events cannot be captured */
      }
      const stroke = [this.#point(e)];
      this.strokes.push(stroke);
      this.#setStyle();
      this.#drawStroke(stroke, 0);
      this.#emit('start');
    });
    c.addEventListener('pointermove', (e) => {
      if (e.pointerId !== this.drawing) return;
      e.preventDefault();
      const stroke = this.strokes[this.strokes.length - 1];
      const from = stroke.length;
      // Coalesced events keep fast pen and touch strokes smooth.
      const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
      for (const ev of events.length ? events : [e]) stroke.push(this.#point(ev));
      this.#setStyle();
      this.#drawStroke(stroke, from);
      this.#emit('move');
    });
    const end = (e) => {
      if (e.pointerId !== this.drawing) return;
      this.drawing = null;
      this.#emit('end');
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    c.addEventListener('lostpointercapture', end);
    // No scrolling, zooming or context menu while drawing with touch or pen; no selection
    // or drag-and-drop gesture may begin on the pad.
    c.addEventListener('touchstart', (e) => e.preventDefault(), { passive: false });
    c.addEventListener('selectstart', (e) => e.preventDefault());
    c.addEventListener('dragstart', (e) => e.preventDefault());
    c.addEventListener('contextmenu', (e) => e.preventDefault());
  }

  /** Removes the last stroke; returns whether there was one. */
  undo() {
    if (!this.strokes.length) return false;
    this.strokes.pop();
    this.drawing = null;
    this.redraw();
    this.#emit('undo');
    return true;
  }

  clear() {
    this.strokes = [];
    this.drawing = null;
    this.redraw();
    this.#emit('clear');
  }

  /** Replaces the drawing with these strokes (lists of [x, y] in 0..1). */
  setStrokes(strokes) {
    this.strokes = strokes.map((s) => s.map(([x, y]) => [x, y]));
    this.drawing = null;
    this.redraw();
    this.#emit('set');
  }

  /** The drawing as RGBA pixels (MODEL_SIDE × MODEL_SIDE, transparent paper) for the recogniser. */
  imageData() {
    return this.modelCtx.getImageData(0, 0, MODEL_SIDE, MODEL_SIDE);
  }

  /** The fraction of the pad covered with ink (0..1). */
  inkCoverage() {
    const { data } = this.imageData();
    let inked = 0;
    for (let i = 3; i < data.length; i += 4) inked += data[i] > 0;
    return inked / (data.length / 4);
  }
}

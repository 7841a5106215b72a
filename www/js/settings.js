// The training settings form. Its recipes are the core's own (the page module's facts), so the
// page's "Improved" run is the CLI's improved run: choosing a recipe sets every field it
// defines, visibly; editing a field afterwards makes the recipe "custom".
const $ = (id) => document.getElementById(id);

// Form field -> how it reads and writes a TrainConfig.
const FIELDS = {
  epochs: { get: (c) => c.epochs, set: (c, v) => { c.epochs = v; } },
  batch: { get: (c) => c.batch_size, set: (c, v) => { c.batch_size = v; } },
  lr: { get: (c) => c.learning_rate, set: (c, v) => { c.learning_rate = v; } },
  schedule: { get: (c) => c.schedule, set: (c, v) => { c.schedule = v; }, text: true },
  dropout: { get: (c) => c.model.dropout, set: (c, v) => { c.model.dropout = v; } },
  smoothing: { get: (c) => c.label_smoothing, set: (c, v) => { c.label_smoothing = v; } },
  'weight-decay': { get: (c) => c.weight_decay, set: (c, v) => { c.weight_decay = v; } },
  shift: { get: (c) => c.augment_shift, set: (c, v) => { c.augment_shift = v; } },
  'input-dropout': { get: (c) => c.input_dropout, set: (c, v) => { c.input_dropout = v; } },
  average: { get: (c) => c.average, set: (c, v) => { c.average = v; } },
  drawings: { get: (c) => c.augment_drawings, set: (c, v) => { c.augment_drawings = v; } },
  seed: { get: (c) => c.seed, set: (c, v) => { c.seed = v; } },
  flip: { get: (c) => c.augment_flip, set: (c, v) => { c.augment_flip = v; }, check: true },
};

export class Settings {
  constructor(facts) {
    this.recipes = facts.recipes;
    this.form = $('settings');
    this.recipe = $('recipe');
    for (const r of this.recipes) this.recipe.append(new Option(r.id[0].toUpperCase() + r.id.slice(1), r.id));
    this.recipe.append(new Option('Custom', 'custom'));
    this.base = this.find(facts.default_recipe);
    this.recipe.addEventListener('change', () => {
      if (this.recipe.value !== 'custom') this.useRecipe(this.recipe.value, { highlight: true });
    });
    for (const id of Object.keys(FIELDS)) $(id).addEventListener('input', () => this.markCustom());
    $('limit').value = String(facts.train_size);
    this.useRecipe(this.base.id);
  }

  find(id) { return this.recipes.find((r) => r.id === id) ?? this.recipes[0]; }

  /** Fills every field from recipe `id`; with `highlight`, the fields that changed flash. */
  useRecipe(id, { highlight = false } = {}) {
    this.base = this.find(id);
    this.fill(this.base.config, { highlight });
    this.recipe.value = id;
    this.showSummary();
  }

  /** Shows a run's own settings (a restored or resumed run). */
  fill(config, { highlight = false, trainLimit } = {}) {
    for (const [id, f] of Object.entries(FIELDS)) {
      const el = $(id);
      const before = f.check ? el.checked : el.value;
      if (f.check) el.checked = Boolean(f.get(config));
      else el.value = String(f.get(config));
      const after = f.check ? el.checked : el.value;
      if (highlight && before !== after) {
        const label = el.closest('label');
        label.classList.remove('changed');
        void label.offsetWidth; // restart the animation
        label.classList.add('changed');
      }
    }
    if (trainLimit !== undefined) $('limit').value = String(trainLimit ?? $('limit').max);
    const same = this.recipes.find((r) => Object.values(FIELDS).every((f) => f.get(r.config) === f.get(config)));
    if (same) { this.base = same; this.recipe.value = same.id; } else this.recipe.value = 'custom';
    this.showSummary();
  }

  markCustom() {
    const c = this.read().config;
    const same = this.recipes.find((r) => Object.values(FIELDS).every((f) => f.get(r.config) === f.get(c)));
    this.recipe.value = same ? same.id : 'custom';
    this.showSummary();
  }

  showSummary() {
    const text = this.recipe.value === 'custom'
      ? `Custom: the ${this.base.id} recipe with your changes.`
      : this.base.summary[0].toUpperCase() + this.base.summary.slice(1) + '.';
    $('recipe-summary').textContent = text;
  }

  /** The run the form describes: {config, backend, trainLimit}. */
  read() {
    const config = structuredClone(this.base.config);
    for (const [id, f] of Object.entries(FIELDS)) {
      const el = $(id);
      f.set(config, f.check ? el.checked : f.text ? el.value : Number(el.value));
    }
    const limit = Number($('limit').value);
    const max = Number($('limit').max);
    return { config, backend: $('backend').value, trainLimit: limit && limit < max ? limit : null };
  }

  valid() { return this.form.reportValidity(); }

  /** The training set's size bounds the "Training images" field. */
  setTrainSize(n) {
    const el = $('limit');
    const wasAll = !el.value || Number(el.value) >= Number(el.max || n);
    el.max = String(n);
    if (wasAll || Number(el.value) > n) el.value = String(n);
  }

  setBackend(value) { $('backend').value = value; }
  backend() { return $('backend').value; }

  setEnabled(enabled) {
    for (const el of this.form.querySelectorAll('input, select')) el.disabled = !enabled;
  }
}

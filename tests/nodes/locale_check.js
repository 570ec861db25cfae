// Switch the real ComfyUI frontend's Language setting (Comfy.Locale) to LOCALE, reload, and print
// what a user then sees of the pack's nodes as JSON: {node id: {title, inputs: {name: label},
// outputs: [label], category}}. The setting is set back to English before exiting.
// Env: COMFY_URL, LOCALE (e.g. zh), NODES (comma-separated node ids), HARNESS_ROOT (playwright-core).
const path = require('path');
const { launch, openComfy } = require(path.join(__dirname, '..', '..', 'scripts', 'comfy_browser.js'));

const setLocale = (page, locale) => page.evaluate(async (value) => {
  const setting = window.app.extensionManager?.setting;
  if (setting?.set) await setting.set('Comfy.Locale', value);
  else await window.app.ui.settings.setSettingValueAsync('Comfy.Locale', value);
}, locale);

(async () => {
  const { page, close } = await launch();
  let code = 1;
  try {
    await openComfy(page);
    await setLocale(page, process.env.LOCALE);
    await openComfy(page);  // as a user would: the node definitions are read again in the new language
    const seen = await page.evaluate((ids) => {
      const out = {};
      for (const id of ids) {
        const node = window.LiteGraph.createNode(id);
        if (!node) { out[id] = null; continue; }
        const label = (slot) => slot.label || slot.localized_name || slot.name;
        const inputs = {};
        for (const slot of node.inputs || []) inputs[slot.name] = label(slot);
        for (const widget of node.widgets || []) inputs[widget.name] = widget.label || inputs[widget.name] || widget.name;
        out[id] = { title: node.title, inputs, outputs: (node.outputs || []).map(label) };
      }
      return out;
    }, process.env.NODES.split(','));
    console.log(JSON.stringify(seen));
    code = 0;
  } catch (e) {
    console.error('exception: ' + (e.stack || e));
  } finally {
    await setLocale(page, 'en').catch(() => {});  // the other tests read English text
    await close();
  }
  process.exit(code);
})();

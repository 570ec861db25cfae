// Switch the real ComfyUI frontend's Language setting (Comfy.Locale) to LOCALE, reload, and print
// what a user then sees of the pack's nodes as JSON: {node id: {title, inputs: {name: label},
// outputs: [label], category}}. The setting is set back to English before exiting.
// Env: COMFY_URL, LOCALE (e.g. zh), NODES (comma-separated node ids), HARNESS_ROOT (playwright-core).
const path = require('path');
const fs = require('fs');
const os = require('os');
const { chromium } = require(path.join(process.env.HARNESS_ROOT, 'pw', 'node_modules', 'playwright-core'));

const setLocale = (page, locale) => page.evaluate(async (value) => {
  const setting = window.app.extensionManager?.setting;
  if (setting?.set) await setting.set('Comfy.Locale', value);
  else await window.app.ui.settings.setSettingValueAsync('Comfy.Locale', value);
}, locale);

async function open(page) {
  await page.goto(process.env.COMFY_URL, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => window.app && window.app.graph && window.app.canvas, null, { timeout: 90000 });
  await page.waitForTimeout(1500);
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-profile-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1400, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  let code = 1;
  try {
    await open(page);
    await setLocale(page, process.env.LOCALE);
    await open(page);  // as a user would: the node definitions are read again in the new language
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
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.exit(code);
})();

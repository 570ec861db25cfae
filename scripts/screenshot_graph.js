// Draw one workflow in the real ComfyUI frontend (headless Chromium) and save a PNG of it.
// Env: COMFY_URL, WORKFLOW (UI-format json), OUT (png path), HARNESS_ROOT (for playwright-core),
//      WIDTH/HEIGHT (viewport, default 1600x900). Exit 1 when a node is missing or an error is shown.
const fs = require('fs');
const { launch, openComfy } = require('./comfy_browser.js');

(async () => {
  const width = Number(process.env.WIDTH || 1600), height = Number(process.env.HEIGHT || 900);
  const { page, close } = await launch({ width, height });
  let failed = false;
  try {
    await openComfy(page);
    const workflow = JSON.parse(fs.readFileSync(process.env.WORKFLOW, 'utf8'));
    await page.evaluate(async (wf) => { await window.app.loadGraphData(wf); }, workflow);
    await page.waitForTimeout(2500);
    await page.evaluate(async () => {  // a clean picture: no minimap, no canvas statistics
      const settings = window.app.extensionManager?.setting;
      for (const [id, value] of [['Comfy.Minimap.Visible', false], ['Comfy.Graph.CanvasInfo', false]])
        await settings?.set(id, value).catch?.(() => {});
    });
    const report = await page.evaluate(() => {
      const nodes = window.app.graph.nodes || window.app.graph._nodes;
      const unknown = nodes.filter(n => !window.LiteGraph?.registered_node_types?.[n.type]).map(n => n.type);
      // Fit every node into view, as a user would before taking a picture.
      const xs = nodes.flatMap(n => [n.pos[0], n.pos[0] + n.size[0]]), ys = nodes.flatMap(n => [n.pos[1] - 30, n.pos[1] + n.size[1]]);
      const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
      // The sidebar (left) and the top bar cover part of the canvas: fit into what stays visible.
      const canvas = window.app.canvas, el = canvas.canvas, ratio = window.devicePixelRatio || 1;
      const inset = { left: 80, top: 110, right: 20, bottom: 20 };  // below the Run toolbar
      const w = el.width / ratio - inset.left - inset.right, h = el.height / ratio - inset.top - inset.bottom;
      const scale = Math.min(w / (x1 - x0), h / (y1 - y0));
      canvas.ds.scale = scale;
      canvas.ds.offset[0] = inset.left / scale - x0;  // in place: the frontend keeps its own array
      canvas.ds.offset[1] = inset.top / scale - y0;
      canvas.setDirty(true, true);
      const text = document.body.innerText;
      const bottom = Math.min(el.height / ratio, inset.top + (y1 - y0) * scale + 40);
      return { count: nodes.length, unknown, bottom: Math.round(bottom), error: (text.match(/\d+ errors? found[^\n]*|not in list[^\n]*/i) || [null])[0] };
    });
    await page.waitForTimeout(800);
    await page.screenshot({ path: process.env.OUT, clip: { x: 0, y: 0, width, height: report.bottom } });  // no empty canvas below
    console.log(JSON.stringify(report));
    failed = report.unknown.length > 0 || !!report.error || report.count === 0;
  } finally {
    await close();
  }
  process.exit(failed ? 1 : 0);
})();

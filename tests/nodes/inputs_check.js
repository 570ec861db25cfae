// What the real ComfyUI frontend shows of the pack's task-aware inputs, printed as JSON:
//  router / annotator: {choice value: [setting widgets shown]} after choosing each value as a user does;
//  row: the Planner's image sockets after each connect/disconnect step, with every link's target slot
//       checked against its socket; templates: for each WORKFLOWS file, the Planner's sockets after the
//       drop, whether every link still points at its socket, and the API prompt the frontend queues.
// Env: COMFY_URL, PACK_NAME (the pack's folder in custom_nodes), HARNESS_ROOT (playwright-core), WORKFLOWS (comma-separated UI-format files).
const path = require('path');
const fs = require('fs');
const { launch, openComfy } = require(path.join(__dirname, '..', '..', 'scripts', 'comfy_browser.js'));

(async () => {
  const { page, close } = await launch();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  let code = 1;
  try {
    await openComfy(page);
    const settle = () => page.evaluate(() => new Promise((r) => setTimeout(r, 50)));
    const seen = await page.evaluate(async (packName) => {
      const app = window.app, graph = app.graph, LG = window.LiteGraph;
      const tick = () => new Promise((r) => setTimeout(r, 20));
      graph.clear();
      const shownFor = async (type, { choice: choiceName, shows }) => {
        const settings = Object.values(shows).flat();
        const node = LG.createNode(type);
        graph.add(node);
        const choice = node.widgets.find((w) => w.name === choiceName);
        const out = {};
        for (const value of choice.options.values) {
          choice.value = value;
          choice.callback?.(value);  // what the frontend calls after the user picks a value
          await tick();
          out[value] = node.widgets.filter((w) => settings.includes(w.name) && !w.hidden).map((w) => w.name);
        }
        return out;
      };
      const { WIDGETS_OF_CHOICE: facts } = await import(`/extensions/${packName}/unison_facts.js`);
      const router = await shownFor('UnisonTaskRouter', facts.UnisonTaskRouter);
      const annotator = await shownFor('UnisonAnnotator', facts.UnisonAnnotator);

      // Every link into the node points at its socket's index (kept for the templates below).
      const linksPointAtTheirSockets = window.__linksPointAtTheirSockets = (node) => (node.inputs || []).every((slot, i) => {
        if (slot.link == null) return true;
        const link = node.graph._links?.get?.(slot.link) ?? node.graph.links?.[slot.link];
        return link && link.target_slot === i && link.target_id === node.id;
      });
      const sockets = (node) => node.inputs.filter((s) => /^image\d+$/.test(s.name)).map((s) => s.name);
      const planner = LG.createNode('UnisonPlanner');
      const load = LG.createNode('LoadImage');
      const mask = LG.createNode('LoadImage');
      graph.add(planner); graph.add(load); graph.add(mask);
      mask.connect(1, planner, planner.inputs.findIndex((s) => s.name === 'mask1'));  // a link after the row
      const row = [];
      const step = async (what) => { await tick(); row.push({ what, sockets: sockets(planner), linked: linksPointAtTheirSockets(planner) }); };
      await step('created');
      for (const name of ['image1', 'image2', 'image3', 'image4']) {
        load.connect(0, planner, planner.inputs.findIndex((s) => s.name === name));
        await step('connect ' + name);
      }
      for (const name of ['image4', 'image3']) {
        planner.disconnectInput(planner.inputs.findIndex((s) => s.name === name));
        await step('disconnect ' + name);
      }
      const prompt = (await app.graphToPrompt()).output[planner.id].inputs;
      return { router, annotator, row, rowPrompt: { image1: prompt.image1, image2: prompt.image2, mask1: prompt.mask1,
        image3: prompt.image3 ?? null }, ids: { load: String(load.id), mask: String(mask.id) } };
    }, process.env.PACK_NAME);
    seen.templates = {};
    for (const file of (process.env.WORKFLOWS || '').split(',').filter(Boolean)) {
      const workflow = JSON.parse(fs.readFileSync(file, 'utf8'));
      await page.evaluate(async (wf) => { await window.app.loadGraphData(wf); }, workflow);
      await settle();
      seen.templates[path.basename(file, '.json')] = await page.evaluate(async () => {
        const graph = window.app.graph, nodes = graph.nodes || graph._nodes;
        const out = { nodes: {} };
        for (const node of nodes) {
          if (!node.type.startsWith('Unison')) continue;
          out.nodes[node.id] = { type: node.type, inputs: (node.inputs || []).map((s) => s.name),
            linked: window.__linksPointAtTheirSockets(node),
            hidden: (node.widgets || []).filter((w) => w.hidden).map((w) => w.name),
            widgets_values: node.serialize().widgets_values };
        }
        out.prompt = (await window.app.graphToPrompt()).output;
        return out;
      });
    }
    seen.errors = errors;
    console.log(JSON.stringify(seen));
    code = 0;
  } catch (e) {
    console.error('exception: ' + (e.stack || e));
  } finally {
    await close();
  }
  process.exit(code);
})();

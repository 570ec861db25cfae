// ComfyUI-Unison frontend extension:
// - after a Unison node runs, show the text it reported (the plan summary, the route, the planner's
//   answer) in a read-only box on the node ({"ui": {"text": [...]}}, delivered to onExecuted);
// - show only the settings the chosen task (Task Router) or mode (Annotator) reads: the others are
//   hidden, never removed, so saved workflows keep their widgets_values and the server still gets
//   every input (it ignores those, with a note);
// - media rows image1..imageN grow as they are connected: one free socket after the last connected.
//   Inputs keep their names ({image1} in a request, API graphs and saved links stay valid).
import { app } from "../../scripts/app.js";
import { WIDGETS_OF_CHOICE } from "./unison_facts.js";

const SHOWS_TEXT = new Set(["UnisonPlanner", "UnisonTaskRouter", "UnisonAuto", "UnisonAnnotator"]);
const WIDGET_NAME = "unison_output";

function showText(node, lines) {
  const text = (lines || []).filter((line) => line && String(line).trim()).join("\n\n");
  let widget = node.widgets?.find((w) => w.name === WIDGET_NAME);
  if (!widget) {
    widget = makeTextWidget(node);
    if (!widget) return;
  }
  widget.value = text;
  if (widget.inputEl) {
    widget.inputEl.readOnly = true;
    widget.inputEl.style.opacity = 0.85;
  }
  requestAnimationFrame(() => {
    const size = node.computeSize();
    node.setSize([Math.max(node.size[0], size[0]), Math.max(node.size[1], size[1])]);
    node.setDirtyCanvas(true, true);
  });
}

// A multiline text widget that is not part of the node's inputs (never serialized into the
// workflow, so saved workflows keep their widgets_values positions).
let stringWidget = null;

async function findStringWidget() {
  const fromApi = window.comfyAPI?.widgets?.ComfyWidgets?.STRING;
  if (fromApi) return fromApi;
  try {
    return (await import("../../scripts/widgets.js")).ComfyWidgets.STRING;
  } catch {
    return null;
  }
}

function makeTextWidget(node) {
  if (!stringWidget) return null;
  const { widget } = stringWidget(node, WIDGET_NAME, ["STRING", { multiline: true }], app);
  widget.serialize = false;
  widget.options = { ...(widget.options || {}), serialize: false };
  return widget;
}

// -- settings that follow the choice ----------------------------------------------------------
// Per node: its choice widget, the settings each value reads, and all of its settings.
const CHOICES = Object.fromEntries(Object.entries(WIDGETS_OF_CHOICE).map(([id, { choice, shows }]) =>
  [id, { choice, shows, settings: new Set(Object.values(shows).flat()) }]));

function isLinked(node, widgetName) {
  return node.inputs?.some((slot) => slot.widget?.name === widgetName && slot.link != null) ?? false;
}

function setHidden(widget, hidden) {
  widget.hidden = hidden;
  widget.options = widget.options || {};
  widget.options.hidden = hidden;  // the Vue node renderer reads the option
}

function showSettingsOfChoice(node, facts, choice) {
  const shown = new Set(facts.shows[choice.value] ?? facts.settings);  // an unknown value hides nothing
  let changed = false;
  for (const widget of node.widgets) {
    if (!facts.settings.has(widget.name)) continue;
    const hidden = !shown.has(widget.name) && !isLinked(node, widget.name);
    if (!!widget.hidden !== hidden) {
      setHidden(widget, hidden);
      changed = true;
    }
  }
  if (changed) fitHeight(node);
}

function followChoice(node) {
  const facts = CHOICES[node.comfyClass ?? node.type];
  const choice = node.widgets?.find((w) => w.name === facts.choice);
  if (!choice) return;
  if (!choice.__unisonFollowed) {
    choice.__unisonFollowed = true;
    const callback = choice.callback;
    choice.callback = function () {
      const result = callback?.apply(this, arguments);
      showSettingsOfChoice(node, facts, choice);
      return result;
    };
  }
  showSettingsOfChoice(node, facts, choice);  // also for a value set by a loaded workflow
}

function fitHeight(node) {
  const size = node.computeSize();
  node.setSize([node.size[0], size[1]]);
  node.setDirtyCanvas(true, true);
}

// -- media rows that grow --------------------------------------------------------------------
const MEDIA_ROW = /^image(\d+)$/;

function linkOf(graph, id) {
  return graph?._links?.get?.(id) ?? graph?.links?.get?.(id) ?? graph?.links?.[id];
}

// The row's slots as declared, kept to put a removed one back (with its label and tooltip).
function rememberRow(node) {
  node.__unisonRow ??= (node.inputs || []).filter((slot) => MEDIA_ROW.test(slot.name))
    .map((slot) => ({ ...slot, link: null }));
  return node.__unisonRow;
}

function growMediaRow(node) {
  const row = rememberRow(node);
  if (row.length < 2 || !node.inputs) return;
  const connected = row.map((slot) => node.inputs.some((s) => s.name === slot.name && s.link != null));
  const last = connected.lastIndexOf(true);
  const wanted = Math.min(row.length, last + 2);  // every connected one, then one free socket
  let changed = false;
  for (let k = row.length - 1; k >= wanted; k--) {  // from the end: unconnected by construction
    const index = node.inputs.findIndex((s) => s.name === row[k].name);
    if (index >= 0) {
      node.removeInput(index);  // later links' target slots are shifted down by the graph
      changed = true;
    }
  }
  for (let k = 0; k < wanted; k++) {
    if (node.inputs.some((s) => s.name === row[k].name)) continue;
    const before = k === 0 ? -1 : node.inputs.findIndex((s) => s.name === row[k - 1].name);
    const at = before >= 0 ? before + 1 : node.inputs.length;
    node.inputs.splice(at, 0, { ...row[k], link: null });
    for (let i = at + 1; i < node.inputs.length; i++) {  // links into the slots after it move up one
      const link = node.inputs[i].link != null ? linkOf(node.graph, node.inputs[i].link) : null;
      if (link) link.target_slot = i;
    }
    changed = true;
  }
  if (changed) fitHeight(node);
}

function hasMediaRow(nodeData) {
  const optional = Object.keys(nodeData.input?.optional ?? {});
  return optional.filter((name) => MEDIA_ROW.test(name)).length > 1;
}

app.registerExtension({
  name: "comfyui-unison.inputs-that-follow",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    const choice = nodeData.name in CHOICES;
    const row = hasMediaRow(nodeData);
    if (!choice && !row) return;
    const refresh = (node) => {
      if (choice) followChoice(node);
      if (row) growMediaRow(node);
    };
    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const result = onNodeCreated?.apply(this, arguments);
      refresh(this);  // the row is remembered as declared before any socket is removed
      return result;
    };
    const onConfigure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function () {  // a loaded workflow: its saved values and links
      const result = onConfigure?.apply(this, arguments);
      refresh(this);
      return result;
    };
    const onConnectionsChange = nodeType.prototype.onConnectionsChange;
    nodeType.prototype.onConnectionsChange = function () {
      const result = onConnectionsChange?.apply(this, arguments);
      if (!app.configuringGraph) queueMicrotask(() => refresh(this));  // after the link is in place
      return result;
    };
  },
});

app.registerExtension({
  name: "comfyui-unison.show-plan",
  async setup() {
    stringWidget = await findStringWidget();
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!SHOWS_TEXT.has(nodeData.name)) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      if (message?.text) showText(this, message.text);
    };
  },
});

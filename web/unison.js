// ComfyUI-Unison frontend extension: after a Unison node runs, show the text it reported
// (the plan summary, the route, the planner's answer) in a read-only box on the node.
// Nodes send it as {"ui": {"text": [...]}}; ComfyUI delivers that to onExecuted.
import { app } from "../../scripts/app.js";

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

// The "activations" family: one sub-tab per method recorded in the run
// (filters, embeddings, top patches), each drawn by its own view; methods
// without a view get the generic one. The shell's step slider drives them all.

import { mountSubtabs } from "./subtabs.js";
import filters from "./filters.js";
import embeddings from "./embeddings.js";
import patches from "./patches.js";

const METHOD_VIEWS = [filters, embeddings, patches];

export default { family: "activations", title: "Activations", mount };

function mount(host, api) {
  return mountSubtabs(host, api, METHOD_VIEWS, { tabs: "kv-act-methods", body: "kv-act-body" }, "kv-act-view");
}

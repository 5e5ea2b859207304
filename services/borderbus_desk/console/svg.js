// borderbus console: making SVG elements, shared by the map (map.js) and the network graph (graph.js).
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";

  /** An SVG element with these attributes (stringified) and children. */
  function svg(tag, attributes = {}, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    for (const child of children) node.append(child);
    return node;
  }

  /** A <title>: the tooltip of its parent, and its accessible name. */
  function title(text) {
    const node = svg("title");
    node.textContent = text;
    return node;
  }

  window.Borderbus = Object.assign(window.Borderbus || {}, { svg: { svg, title } });
})();

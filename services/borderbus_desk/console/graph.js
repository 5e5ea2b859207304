// borderbus console: the network graph of an alert (GET /api/v1/alerts/{id}/graph): subjects, the links evidence made
// between them, and other open alerts touching them. Plain SVG with a fixed-iteration force layout (the same picture
// every time for the same data); drag to pan, wheel or buttons or +/- keys to zoom; choosing a subject filters the list.
"use strict";

(function () {
  const { i18n } = window.Borderbus;
  const { svg, title } = window.Borderbus.svg;
  const WIDTH = 800;
  const HEIGHT = 480;
  const ITERATIONS = 300;
  const KIND_SHAPE = {
    PERSON_DOCUMENT: "circle",
    PHONE: "square",
    VEHICLE_PLATE: "wide",
    VESSEL: "triangle",
    BANK_ACCOUNT: "diamond",
    CRYPTO_WALLET: "diamond",
    PLATFORM_ACCOUNT: "square",
  };

  /** Positions by a deterministic force layout: subjects start on an inner ring, other alerts on an outer one. */
  function layout(nodes, links) {
    const subjects = nodes.filter((n) => n.type === "subject");
    const alerts = nodes.filter((n) => n.type === "alert");
    const position = new Map();
    const ring = (list, radius) =>
      list.forEach((node, i) => {
        const angle = (2 * Math.PI * i) / Math.max(list.length, 1);
        position.set(node.id, { x: radius * Math.cos(angle), y: radius * Math.sin(angle) });
      });
    ring(subjects, subjects.length > 1 ? 140 : 0);
    ring(alerts, 260);
    const k = Math.sqrt((WIDTH * HEIGHT) / Math.max(nodes.length, 1)) * 0.55;
    for (let step = 0; step < ITERATIONS; step++) {
      const temperature = 30 * (1 - step / ITERATIONS) + 0.5;
      const force = new Map(nodes.map((n) => [n.id, { x: 0, y: 0 }]));
      for (let i = 0; i < nodes.length; i++) {
        for (let j = i + 1; j < nodes.length; j++) {
          const a = position.get(nodes[i].id);
          const b = position.get(nodes[j].id);
          let dx = a.x - b.x;
          let dy = a.y - b.y;
          let distance = Math.hypot(dx, dy);
          if (distance < 0.01) [dx, dy, distance] = [0.01 * (i + 1), 0.01 * (j + 1), 0.02];
          const push = (k * k) / distance;
          force.get(nodes[i].id).x += (dx / distance) * push;
          force.get(nodes[i].id).y += (dy / distance) * push;
          force.get(nodes[j].id).x -= (dx / distance) * push;
          force.get(nodes[j].id).y -= (dy / distance) * push;
        }
      }
      for (const link of links) {
        const a = position.get(link.source);
        const b = position.get(link.target);
        if (!a || !b) continue;
        const dx = a.x - b.x;
        const dy = a.y - b.y;
        const distance = Math.max(Math.hypot(dx, dy), 0.01);
        const pull = (distance * distance) / k;
        force.get(link.source).x -= (dx / distance) * pull;
        force.get(link.source).y -= (dy / distance) * pull;
        force.get(link.target).x += (dx / distance) * pull;
        force.get(link.target).y += (dy / distance) * pull;
      }
      for (const node of nodes) {
        const p = position.get(node.id);
        const f = force.get(node.id);
        f.x -= p.x * 0.05; // gravity keeps unlinked parts on screen
        f.y -= p.y * 0.05;
        const size = Math.max(Math.hypot(f.x, f.y), 0.01);
        p.x += (f.x / size) * Math.min(size, temperature);
        p.y += (f.y / size) * Math.min(size, temperature);
      }
    }
    // fit into the picture
    const xs = [...position.values()].map((p) => p.x);
    const ys = [...position.values()].map((p) => p.y);
    const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const scale = Math.min((WIDTH - 160) / Math.max(maxX - minX, 1), (HEIGHT - 80) / Math.max(maxY - minY, 1), 1.5);
    for (const p of position.values()) {
      p.x = WIDTH / 2 + (p.x - (minX + maxX) / 2) * scale;
      p.y = HEIGHT / 2 + (p.y - (minY + maxY) / 2) * scale;
    }
    return position;
  }

  function shape(kind, x, y) {
    switch (KIND_SHAPE[kind] || "circle") {
      case "square":
        return svg("rect", { x: x - 12, y: y - 12, width: 24, height: 24, rx: 4 });
      case "wide":
        return svg("rect", { x: x - 17, y: y - 10, width: 34, height: 20, rx: 3 });
      case "triangle":
        return svg("path", { d: `M${x},${y - 15} L${x + 15},${y + 11} L${x - 15},${y + 11} Z` });
      case "diamond":
        return svg("path", { d: `M${x},${y - 15} L${x + 15},${y} L${x},${y + 15} L${x - 15},${y} Z` });
      default:
        return svg("circle", { cx: x, cy: y, r: 13 });
    }
  }

  function kindLabel(kind) {
    return i18n.has(`kind.${kind}`) ? i18n.t(`kind.${kind}`) : kind;
  }

  /** Draw ``data`` into ``container``. ``onSubject(key)`` when a subject is chosen, ``onAlert(id)`` for another alert. */
  function render(container, data, { onSubject, onAlert, chosenSubject } = {}) {
    const nodes = data.nodes || [];
    const links = data.links || [];
    const subjects = nodes.filter((n) => n.type === "subject");
    const position = layout(nodes, links);
    const view = { x: 0, y: 0, scale: 1 };
    const root = svg("svg", {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      class: "graph",
      role: "group",
      tabindex: "0",
      "aria-label": i18n.t("graph.label", {
        subjects: i18n.number(subjects.length),
        links: i18n.number(links.filter((l) => l.type === "evidence").length),
        alerts: i18n.number(data.other_alerts || 0),
      }),
    });
    const background = svg("rect", { x: 0, y: 0, width: WIDTH, height: HEIGHT, class: "graph-background" });
    const viewport = svg("g", { class: "viewport" });
    const apply = () => viewport.setAttribute("transform", `translate(${view.x.toFixed(1)} ${view.y.toFixed(1)}) scale(${view.scale.toFixed(3)})`);
    root.append(background, viewport);

    const labelOf = new Map(nodes.map((n) => [n.id, n.label]));
    const edges = svg("g", { class: "links" });
    for (const link of links) {
      const a = position.get(link.source);
      const b = position.get(link.target);
      if (!a || !b) continue;
      const count = (link.evidence || []).length;
      const line = svg("line", {
        x1: a.x.toFixed(1), y1: a.y.toFixed(1), x2: b.x.toFixed(1), y2: b.y.toFixed(1),
        class: `link link-${link.type}`, "stroke-width": link.type === "evidence" ? Math.min(2 + count, 8) : 2,
        "data-source": link.source, "data-target": link.target, "data-evidence": (link.evidence || []).map((e) => e.event_id).join(" "),
      }); // prettier-ignore
      if (link.type === "evidence") {
        line.append(title(i18n.t("graph.link", { a: labelOf.get(link.source), b: labelOf.get(link.target), count: i18n.number(count) })));
      }
      edges.append(line);
    }
    viewport.append(edges);

    const group = svg("g", { class: "nodes" });
    for (const node of nodes) {
      const { x, y } = position.get(node.id);
      const label = svg("text", { x, y: y + 30, "text-anchor": "middle", class: "node-label", direction: "ltr", "unicode-bidi": "isolate" });
      label.textContent = node.label.length > 26 ? node.label.slice(0, 25) + "…" : node.label;
      let g;
      if (node.type === "subject") {
        const described = i18n.t("graph.subject", { kind: kindLabel(node.kind), id: node.label, count: i18n.number((node.evidence || []).length) });
        g = svg("g", {
          class: `node node-subject kind-${node.kind}${node.in_alert ? " in-alert" : ""}${node.id === chosenSubject ? " chosen" : ""}`,
          "data-subject": node.id, role: "button", tabindex: "0", "aria-label": described,
        }, shape(node.kind, x, y), label, title(described)); // prettier-ignore
        g.addEventListener("click", () => onSubject && onSubject(node.id));
      } else {
        const described = i18n.t("graph.alert", {
          id: node.alert_id, rule: i18n.has(`rule.${node.rule}`) ? i18n.t(`rule.${node.rule}`) : node.rule,
          severity: i18n.t(`severity.${node.severity}`), status: i18n.t(`status.${node.status}`),
        }); // prettier-ignore
        g = svg("g", {
          class: `node node-alert sev-${String(node.severity).toLowerCase()}`, "data-alert-id": node.alert_id,
          role: "button", tabindex: "0", "aria-label": described,
        }, svg("path", { d: `M${x - 14},${y - 8} L${x},${y - 16} L${x + 14},${y - 8} L${x + 14},${y + 8} L${x},${y + 16} L${x - 14},${y + 8} Z` }),
        label, title(described)); // prettier-ignore
        g.addEventListener("click", () => onAlert && onAlert(node.alert_id));
      }
      g.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          event.stopPropagation();
          g.dispatchEvent(new MouseEvent("click"));
        }
      });
      group.append(g);
    }
    viewport.append(group);

    // pan and zoom: the viewBox stays fixed, the viewport group moves
    const zoomAt = (factor, cx = WIDTH / 2, cy = HEIGHT / 2) => {
      const scale = Math.min(Math.max(view.scale * factor, 0.3), 6);
      view.x = cx - ((cx - view.x) * scale) / view.scale;
      view.y = cy - ((cy - view.y) * scale) / view.scale;
      view.scale = scale;
      apply();
    };
    const toSvg = (event) => {
      const box = root.getBoundingClientRect();
      return [((event.clientX - box.left) * WIDTH) / box.width, ((event.clientY - box.top) * HEIGHT) / box.height];
    };
    root.addEventListener("wheel", (event) => {
      event.preventDefault();
      zoomAt(event.deltaY < 0 ? 1.2 : 1 / 1.2, ...toSvg(event));
    }, { passive: false }); // prettier-ignore
    let drag = null;
    background.addEventListener("pointerdown", (event) => {
      drag = { start: toSvg(event), x: view.x, y: view.y };
      background.setPointerCapture(event.pointerId);
    });
    background.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const [x, y] = toSvg(event);
      view.x = drag.x + x - drag.start[0];
      view.y = drag.y + y - drag.start[1];
      apply();
    });
    background.addEventListener("pointerup", () => (drag = null));
    root.addEventListener("keydown", (event) => {
      const moves = { ArrowLeft: [40, 0], ArrowRight: [-40, 0], ArrowUp: [0, 40], ArrowDown: [0, -40] };
      if (event.key === "+" || event.key === "=") zoomAt(1.2);
      else if (event.key === "-") zoomAt(1 / 1.2);
      else if (event.key === "0") Object.assign(view, { x: 0, y: 0, scale: 1 }) && apply();
      else if (moves[event.key] && event.target === root) {
        view.x += moves[event.key][0];
        view.y += moves[event.key][1];
        apply();
      } else return;
      event.preventDefault();
      event.stopPropagation();
    });
    apply();

    const button = (key, text, action) => {
      const node = document.createElement("button");
      node.type = "button";
      node.className = "secondary small-button";
      node.dataset.graphControl = key;
      node.setAttribute("aria-label", i18n.t(`graph.${key}`));
      node.title = i18n.t(`graph.${key}`);
      node.textContent = text;
      node.addEventListener("click", action);
      return node;
    };
    const controls = document.createElement("div");
    controls.className = "graph-controls";
    controls.append(
      button("zoom_in", "+", () => zoomAt(1.2)),
      button("zoom_out", "−", () => zoomAt(1 / 1.2)),
      button("reset", "⟲", () => {
        Object.assign(view, { x: 0, y: 0, scale: 1 });
        apply();
      }),
    );
    const hint = document.createElement("p");
    hint.className = "muted small graph-hint";
    hint.textContent = i18n.t("graph.hint") + (data.other_alerts ? " " + i18n.plural("graph.others", data.other_alerts) : "");
    container.replaceChildren(controls, root, hint);
    return { zoomAt, view };
  }

  window.Borderbus.graph = { render, layout };
})();

// borderbus console: the evidence timeline. Grouped by UTC day under sticky headings in a scrolling region of its own,
// one compact line per event, so an alert with 50 or 500 events stays readable and the detail pane stays short.
"use strict";

(function () {
  const { i18n } = window.Borderbus;

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function eventType(type) {
    return i18n.has(`event.${type}`) ? i18n.t(`event.${type}`) : type;
  }

  function item(evidence) {
    const where = evidence.border_point
      ? i18n.ltr(evidence.border_point, "ltr where")
      : evidence.latitude !== null && evidence.latitude !== undefined
        ? i18n.ltr(`${Number(evidence.latitude).toFixed(4)},${Number(evidence.longitude).toFixed(4)}`, "ltr where")
        : el("span", { class: "where none" }, i18n.t("evidence.nowhere"));
    const time = el("time", { class: "when mono", datetime: evidence.occurred_at }, i18n.ltr(i18n.time(evidence.occurred_at).split(" ")[1] || ""));
    const subjects = (evidence.subjects || []).map((key) => i18n.ltr(key.slice(key.indexOf(":") + 1), "ltr ident"));
    return el(
      "li",
      { class: "evidence-item", dataset: { eventId: evidence.event_id, eventType: evidence.event_type } },
      time,
      el("span", { class: "event-type" }, eventType(evidence.event_type)),
      i18n.ltr(evidence.agency, "ltr agency"),
      where,
      // the agency's own one-line description travels in English: it is the agency's wording, not ours
      el("span", { class: "evidence-summary", lang: "en", dir: "auto" }, evidence.summary),
      subjects.length ? el("span", { class: "evidence-subjects" }, ...subjects.flatMap((node, i) => (i ? [" ", node] : [node]))) : null,
    );
  }

  /** Render ``evidence`` (oldest first) into ``container``, replacing what was there. */
  function render(container, evidence) {
    const items = [...(evidence || [])].sort((a, b) => String(a.occurred_at).localeCompare(String(b.occurred_at)));
    const days = new Map();
    for (const entry of items) {
      const day = String(entry.occurred_at).slice(0, 10);
      if (!days.has(day)) days.set(day, []);
      days.get(day).push(entry);
    }
    const agencies = new Set(items.map((entry) => entry.agency));
    const stats = el(
      "p",
      { class: "timeline-stats muted small" },
      i18n.t("evidence.stats", { count: i18n.number(items.length), days: i18n.number(days.size), agencies: i18n.number(agencies.size) }),
    );
    const groups = [...days].map(([day, entries]) =>
      el(
        "section",
        { class: "day-group", dataset: { day } },
        el("h4", { class: "day-heading" }, i18n.t("evidence.day", { day: i18n.day(`${day}T00:00:00Z`), count: i18n.number(entries.length) })),
        el("ol", { class: "timeline" }, ...entries.map(item)),
      ),
    );
    const scroller = el("div", { class: "timeline-scroll", tabindex: "0", role: "region", "aria-label": i18n.t("evidence.title") }, ...groups);
    container.replaceChildren(stats, scroller);
  }

  window.Borderbus.timeline = { render };
})();

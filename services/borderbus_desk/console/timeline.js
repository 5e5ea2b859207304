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

  function coordinates(evidence) {
    if (evidence.latitude === null || evidence.latitude === undefined) return null;
    const format = (value) => i18n.number(Number(value), 4, { grouping: false });
    return `${format(evidence.latitude)},${format(evidence.longitude)}`;
  }

  /** The event's one-line description in the current locale, from its structured fields (alert schema v4 ``facts``)
   *  and the catalogue's ``evidence.line.<event type>`` template; in English it reads as the correlator's summary. */
  function line(evidence) {
    const facts = evidence.facts || {};
    const ident = (value) => (value ? i18n.ltr(value, "ltr ident") : null);
    const place = evidence.border_point || coordinates(evidence);
    const values = {
      agency: i18n.ltr(evidence.agency, "ltr agency"),
      type: i18n.ltr(evidence.event_type, "ltr code"),
      place: place ? i18n.ltr(place, "ltr place") : null,
      method: i18n.code("method", facts.method),
      risk_score: facts.risk_score ? i18n.ltr(i18n.decimal(facts.risk_score), "ltr number") : null,
      channel: i18n.code("channel", facts.channel),
      amount: facts.amount ? i18n.ltr(i18n.decimal(facts.amount), "ltr number") : null,
      currency: ident(facts.currency),
      case_id: ident(facts.case_id),
      status: i18n.code("case_status", facts.status),
      warrant_ref: ident(facts.warrant_ref),
      platform: ident(facts.platform),
      content_kind: i18n.code("content_kind", facts.content_kind),
      content_ref: ident(facts.content_ref),
    };
    const key = i18n.has(`evidence.line.${evidence.event_type}`) ? `evidence.line.${evidence.event_type}` : "evidence.line.default";
    return i18n.compose(key, values);
  }

  /** Where: the border point's name in the locale with its code, else the coordinates, else "no place". */
  function where(evidence) {
    const code = evidence.border_point;
    if (code) {
      const name = i18n.placeName(code);
      const node = el("span", { class: "where", dataset: { borderPoint: code } });
      node.append(name ? i18n.nodes("place.named", { code: i18n.ltr(code, "ltr place"), name }) : i18n.ltr(code, "ltr place"));
      return node;
    }
    const at = coordinates(evidence);
    return at ? i18n.ltr(at, "ltr where") : el("span", { class: "where none" }, i18n.t("evidence.nowhere"));
  }

  function item(evidence) {
    const time = el("time", { class: "when mono", datetime: evidence.occurred_at }, i18n.ltr(i18n.time(evidence.occurred_at).split(" ")[1] || ""));
    const subjects = (evidence.subjects || []).map((key) => i18n.ltr(key.slice(key.indexOf(":") + 1), "ltr ident"));
    return el(
      "li",
      { class: "evidence-item", dataset: { eventId: evidence.event_id, eventType: evidence.event_type } },
      time,
      el("span", { class: "event-type" }, eventType(evidence.event_type)),
      i18n.ltr(evidence.agency, "ltr agency"),
      where(evidence),
      el("span", { class: "evidence-summary", dataset: { rendered: "facts" } }, line(evidence)),
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
      i18n.t("evidence.stats", {
        events: i18n.plural("evidence.events", items.length),
        days: i18n.plural("evidence.days", days.size),
        agencies: i18n.plural("evidence.agencies", agencies.size),
      }),
    );
    const groups = [...days].map(([day, entries]) =>
      el(
        "section",
        { class: "day-group", dataset: { day } },
        el("h4", { class: "day-heading" }, i18n.plural("evidence.day", entries.length, { day: i18n.day(`${day}T00:00:00Z`) })),
        el("ol", { class: "timeline" }, ...entries.map(item)),
      ),
    );
    const scroller = el("div", { class: "timeline-scroll", tabindex: "0", role: "region", "aria-label": i18n.t("evidence.title") }, ...groups);
    container.replaceChildren(stats, scroller);
  }

  window.Borderbus.timeline = { render };
})();

// borderbus console: the evidence on a map, offline. Country outlines come from the vendored world-atlas TopoJSON
// (Natural Earth 1:110m, public domain; vendor/world-atlas/), drawn as plain SVG paths in an equirectangular projection
// fitted to the evidence; every located event gets a numbered marker and the route joins them in time order.
"use strict";

(function () {
  const { i18n } = window.Borderbus;
  const { svg, title } = window.Borderbus.svg;
  const WIDTH = 800;
  const WORLD_URL = "/console/vendor/world-atlas/countries-110m.json";
  let world = null; // [{name, rings: [[[lon, lat], ...]], bbox}]

  /** TopoJSON (quantized, delta-encoded arcs) to polygons of [lon, lat] rings: the few lines of topojson-client we need. */
  function decode(topology) {
    const [sx, sy] = topology.transform.scale;
    const [tx, ty] = topology.transform.translate;
    const arcs = topology.arcs.map((arc) => {
      let x = 0;
      let y = 0;
      return arc.map(([dx, dy]) => {
        x += dx;
        y += dy;
        return [x * sx + tx, y * sy + ty];
      });
    });
    const ring = (indexes) => {
      const points = [];
      for (const index of indexes) {
        const arc = index < 0 ? arcs[~index].slice().reverse() : arcs[index];
        points.push(...(points.length ? arc.slice(1) : arc));
      }
      return points;
    };
    return topology.objects.countries.geometries.map((geometry) => {
      const polygons = geometry.type === "Polygon" ? [geometry.arcs] : geometry.type === "MultiPolygon" ? geometry.arcs : [];
      const rings = polygons.flatMap((polygon) => polygon.map(ring));
      const all = rings.flat();
      const lons = all.map((p) => p[0]);
      const lats = all.map((p) => p[1]);
      return {
        name: (geometry.properties && geometry.properties.name) || "",
        rings,
        bbox: [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)],
      };
    });
  }

  async function loadWorld() {
    if (!world) {
      const response = await fetch(WORLD_URL);
      if (!response.ok) throw new Error(`${WORLD_URL}: HTTP ${response.status}`);
      world = decode(await response.json());
    }
    return world;
  }

  /** Where each event was: its own coordinates, else its border point's. */
  function located(alert, points) {
    const placed = [];
    const unplaced = [];
    const ordered = [...(alert.evidence || [])].sort((a, b) => String(a.occurred_at).localeCompare(String(b.occurred_at)));
    for (const evidence of ordered) {
      if (evidence.latitude !== null && evidence.latitude !== undefined && evidence.longitude !== null && evidence.longitude !== undefined) {
        placed.push({ evidence, lat: Number(evidence.latitude), lon: Number(evidence.longitude), kind: "coordinates" });
      } else if (evidence.border_point && points[evidence.border_point]) {
        const point = points[evidence.border_point];
        placed.push({ evidence, lat: point.latitude, lon: point.longitude, kind: "border-point" });
      } else {
        unplaced.push(evidence);
      }
    }
    return { placed, unplaced };
  }

  function frame(places) {
    let [west, south, east, north] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const { lat, lon } of places) {
      west = Math.min(west, lon);
      east = Math.max(east, lon);
      south = Math.min(south, lat);
      north = Math.max(north, lat);
    }
    const padLon = Math.max((east - west) * 0.25, 1.5);
    const padLat = Math.max((north - south) * 0.25, 1.0);
    [west, east, south, north] = [west - padLon, east + padLon, south - padLat, north + padLat];
    const cos = Math.cos((((north + south) / 2) * Math.PI) / 180);
    // keep the picture between 2:1 and 1:1.1 by widening the narrow side
    let spanX = (east - west) * cos;
    let spanY = north - south;
    if (spanY / spanX < 0.5) {
      const grow = (spanX * 0.5 - spanY) / 2;
      [south, north] = [south - grow, north + grow];
      spanY = north - south;
    } else if (spanY / spanX > 1.1) {
      const grow = (spanY / 1.1 - spanX) / cos / 2;
      [west, east] = [west - grow, east + grow];
      spanX = (east - west) * cos;
    }
    const scale = WIDTH / spanX;
    return {
      west, east, south, north,
      height: Math.round(spanY * scale),
      project: (lon, lat) => [((lon - west) * cos * scale), ((north - lat) * scale)],
    }; // prettier-ignore
  }

  function placeText(entry, points) {
    const evidence = entry.evidence;
    if (entry.kind === "coordinates") return `${i18n.number(entry.lat, 4, { grouping: false })},${i18n.number(entry.lon, 4, { grouping: false })}`;
    const name = i18n.placeName(evidence.border_point);
    return name ? i18n.t("place.named", { code: evidence.border_point, name }) : evidence.border_point;
  }

  /** Draw ``alert``'s evidence into ``container``; ``points`` maps border point codes to {name, latitude, longitude}. */
  async function render(container, alert, points) {
    const { placed, unplaced } = located(alert, points);
    const note = document.createElement("p");
    note.className = "map-unplaced muted small";
    note.textContent = unplaced.length ? i18n.plural("map.unplaced", unplaced.length) : "";
    if (!placed.length) {
      const empty = document.createElement("p");
      empty.className = "muted map-empty";
      empty.textContent = i18n.t("map.none");
      container.replaceChildren(empty, note);
      return;
    }
    const countries = await loadWorld();
    const view = frame([...placed, ...Object.values(points).filter((p) => p.code === alert.border_point).map((p) => ({ lat: p.latitude, lon: p.longitude }))]);
    const [x0, y0] = [0, 0];
    const root = svg("svg", {
      viewBox: `${x0} ${y0} ${WIDTH} ${view.height}`,
      class: "map",
      role: "img",
      "aria-label": i18n.t("map.label", { count: i18n.number(placed.length) }),
      "data-points": placed.length,
    });
    root.append(
      svg("defs", {},
        svg("marker", { id: "route-arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
          svg("path", { d: "M0,0 L10,5 L0,10 z", class: "route-arrow" }))),
      svg("rect", { x: 0, y: 0, width: WIDTH, height: view.height, class: "sea" }),
    ); // prettier-ignore

    const land = svg("g", { class: "countries" });
    for (const country of countries) {
      const [w, s, e, n] = country.bbox;
      if (e < view.west || w > view.east || n < view.south || s > view.north) continue;
      const d = country.rings
        .map((ring) => "M" + ring.map(([lon, lat]) => view.project(lon, lat).map((v) => v.toFixed(1)).join(",")).join("L") + "Z")
        .join("");
      land.append(svg("path", { d, class: "country" }, title(country.name)));
    }
    root.append(land);

    const known = svg("g", { class: "border-points" });
    for (const point of Object.values(points)) {
      if (point.longitude < view.west || point.longitude > view.east || point.latitude < view.south || point.latitude > view.north) continue;
      const [x, y] = view.project(point.longitude, point.latitude);
      const used = placed.some((entry) => entry.evidence.border_point === point.code) || point.code === alert.border_point;
      const label = svg("text", { x: x + 7, y: y - 6, class: "point-label" });
      const name = i18n.placeName(point.code) || point.name;
      label.textContent = used ? name : point.code; // the points of this alert by name in the officer's language
      known.append(
        svg("g", { class: `border-point${used ? " used" : ""}`, "data-border-point": point.code },
          svg("rect", { x: x - 3.5, y: y - 3.5, width: 7, height: 7 }), label, title(i18n.t("place.named", { code: point.code, name }))),
      ); // prettier-ignore
    }
    root.append(known);

    // events at one place sit on a small circle around it, so each stays visible and clickable
    const positions = placed.map((entry) => view.project(entry.lon, entry.lat));
    const atPlace = new Map();
    positions.forEach(([x, y], index) => {
      const key = `${x.toFixed(0)},${y.toFixed(0)}`;
      if (!atPlace.has(key)) atPlace.set(key, []);
      atPlace.get(key).push(index);
    });
    const spread = positions.map((p) => p.slice());
    for (const indexes of atPlace.values()) {
      if (indexes.length < 2) continue;
      const radius = Math.min(9 + indexes.length, 24);
      indexes.forEach((index, k) => {
        const angle = (2 * Math.PI * k) / indexes.length - Math.PI / 2;
        spread[index] = [positions[index][0] + radius * Math.cos(angle), positions[index][1] + radius * Math.sin(angle)];
      });
    }
    if (placed.length > 1) {
      root.append(svg("polyline", {
        points: positions.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "),
        class: "route", "marker-end": "url(#route-arrow)", "data-stops": placed.length,
      })); // prettier-ignore
    }
    const markers = svg("g", { class: "markers" });
    placed.forEach((entry, index) => {
      const [x, y] = spread[index];
      const evidence = entry.evidence;
      const text = i18n.t("map.point", {
        order: i18n.number(index + 1),
        type: i18n.has(`event.${evidence.event_type}`) ? i18n.t(`event.${evidence.event_type}`) : evidence.event_type,
        agency: evidence.agency,
        place: placeText(entry, points),
        time: `${i18n.time(evidence.occurred_at)} UTC`,
      });
      const shape = entry.kind === "coordinates"
        ? svg("rect", { x: x - 8, y: y - 8, width: 16, height: 16, transform: `rotate(45 ${x} ${y})` })
        : svg("circle", { cx: x, cy: y, r: 9 }); // prettier-ignore
      const number = svg("text", { x, y: y + 4, class: "marker-number", "text-anchor": "middle" });
      number.textContent = i18n.number(index + 1);
      markers.append(svg("g", {
        class: `marker marker-${entry.kind} type-${evidence.event_type}`, "data-event-id": evidence.event_id, "data-order": index + 1,
      }, shape, number, title(text))); // prettier-ignore
    });
    root.append(markers);
    const attribution = document.createElement("p");
    attribution.className = "map-attribution muted small";
    attribution.textContent = i18n.t("map.attribution");
    container.replaceChildren(root, note, attribution);
  }

  window.Borderbus.map = { render, decode };
})();

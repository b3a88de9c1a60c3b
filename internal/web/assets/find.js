// Finding footage by when it was recorded, the camera, the device or the
// badge (GET /api/v1/evidence). A page gives each result its actions: an
// "Open" link, an "Add to the incident" button.
"use strict";

window.sightlineFind = function (root, actions) {
  const { el, time, length } = window.say;
  const q = (sel) => root.querySelector(sel);
  const form = q(".find-form");
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);

  // range sets the form's time range (Dates).
  function range(from, to) {
    form.elements.from.value = local(from);
    form.elements.to.value = local(to);
  }

  async function find() {
    const p = new URLSearchParams();
    for (const k of ["from", "to"]) {
      if (form.elements[k].value) p.set(k, new Date(form.elements[k].value).toISOString());
    }
    for (const k of ["source", "device", "badge", "near", "within"]) {
      if (form.elements[k].value.trim()) p.set(k, form.elements[k].value.trim());
    }
    const status = q(".find-status");
    const res = await fetch("/api/v1/evidence?" + p, { cache: "no-store" });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      status.textContent = "Could not search: " + (body.error || res.status) + ".";
      return;
    }
    const tbody = q(".find-results tbody");
    tbody.textContent = "";
    for (const it of body.evidence) {
      const tr = el("tr");
      tr.dataset.evidence = it.id;
      tr.className = "found";
      tr.append(el("td", time(it.recorded_at)), el("td", it.source + (it.partial ? " (partial)" : "")),
        el("td", it.civilian ? "a civilian" : [it.unit, it.device].filter(Boolean).join(" ")), el("td", length(it.duration_s)));
      const td = el("td");
      for (const a of actions(it)) td.append(a, " ");
      tr.append(td);
      tbody.append(tr);
    }
    q(".find-results").hidden = body.evidence.length === 0;
    status.textContent = body.evidence.length ? window.say.count(body.evidence.length, "recording") + " found." : "Nothing found.";
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    find();
  });
  const now = new Date();
  range(new Date(now.getTime() - 7 * 24 * 3600 * 1000), now);
  return { find, range };
};

// The incident page's changes: suggested footage accepted or turned down,
// footage found and added, officers named, staff assigned. Each is a call
// of the incident API, logged by the server; the timeline (timeline.js)
// shows the clips.
"use strict";
(() => {
  const root = document.getElementById("incident");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const { el, time, length, person } = window.say;
  const incident = root.dataset.incident;
  const base = "/api/v1/incidents/" + encodeURIComponent(incident);
  const timeline = window.sightlineTimeline;

  const getJSON = async (url) => {
    const res = await fetch(url, { cache: "no-store" });
    if (!res.ok) throw new Error(url + ": " + res.status);
    return res.json();
  };
  const edit = async (path, body) => {
    const ok = await timeline.edit("POST", path, body);
    await refresh();
    return ok;
  };

  function said(it) {
    return it.source + (it.civilian ? ", a civilian's" : " " + [it.unit, it.device].filter(Boolean).join(" ")) +
      ", recorded " + time(it.recorded_at) + (it.duration_s ? ", " + length(it.duration_s) : "");
  }

  async function suggestions() {
    const list = await getJSON(base + "/suggestions");
    const ul = $("suggestions");
    ul.textContent = "";
    for (const sg of list) {
      const li = el("li", said(sg) + ": " + sg.reason + " ", "suggestion");
      li.dataset.evidence = sg.id;
      for (const [text, accept] of [["Add", true], ["Not this", false]]) {
        const b = el("button", text, "small" + (accept ? " accept" : " secondary reject"));
        b.type = "button";
        b.addEventListener("click", () => edit("/suggestions/" + encodeURIComponent(sg.id), { accept }));
        li.append(b, " ");
      }
      ul.append(li);
    }
    if (!list.length) ul.append(el("li", "Nothing suggested now.", "hint"));
  }

  let staff = [];
  async function record() {
    const [inc, roster] = await Promise.all([getJSON(base), getJSON("/api/v1/staff")]);
    staff = roster.staff;
    const byID = new Map(staff.map((p) => [p.id, p]));
    const officers = $("officers");
    officers.textContent = "";
    for (const b of inc.officers || []) officers.append(el("li", "badge " + b, "officer"));
    if (!(inc.officers || []).length) officers.append(el("li", "None named.", "hint"));
    const list = $("staff-list");
    list.textContent = "";
    for (const id of inc.staff || []) list.append(el("li", byID.has(id) ? person(byID.get(id)) : id, "assigned"));
    const select = $("staff-user");
    if (select) {
      select.textContent = "";
      for (const p of staff.filter((p) => !(inc.staff || []).includes(p.id))) {
        const o = el("option", person(p));
        o.value = p.name;
        select.append(o);
      }
    }
  }

  async function refresh() {
    await Promise.all([suggestions(), record()]).catch((e) => { $("incident-status").textContent = String(e); });
  }

  $("officer-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (await edit("/officers", { badge: $("officer-badge").value.trim() })) $("officer-badge").value = "";
  });
  if ($("staff-form")) {
    $("staff-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      edit("/staff", { user: $("staff-user").value });
    });
  }

  const finder = window.sightlineFind($("find"), (it) => {
    const b = el("button", "Add to the incident", "small add-clip");
    b.type = "button";
    b.addEventListener("click", async () => {
      if (await edit("/evidence", { evidence_id: it.id })) b.replaceWith(el("span", "added", "hint"));
    });
    return [b];
  });
  // Look first around the incident's clips.
  const around = setInterval(() => {
    const clips = timeline.clips();
    if (!clips.length) return;
    clearInterval(around);
    const starts = clips.map((c) => new Date(c.start).getTime());
    const ends = clips.map((c) => new Date(c.start).getTime() + c.duration_s * 1000);
    finder.range(new Date(Math.min(...starts) - 15 * 60000), new Date(Math.max(...ends) + 15 * 60000));
  }, 250);
  setTimeout(() => clearInterval(around), 10000);
  refresh();
})();

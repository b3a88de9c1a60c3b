// A case, for the staff who work it: its status and the moves allowed
// from it, the complaint, allegations and their findings, evidence,
// incidents, the deadline and its pauses, and every logged step. Each
// change is a call of the case API, logged by the server; reading the
// case is logged with the reason given.
"use strict";

(function () {
  const root = document.getElementById("case");
  const $ = (id) => document.getElementById(id);
  const { el, time } = window.say;
  const id = root.dataset.case, reason = root.dataset.reason, csrf = root.dataset.csrf;
  const api = "/api/v1/cases/" + encodeURIComponent(id);

  async function post(path, body) {
    const res = await fetch(api + path, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body || {}) });
    const out = await res.json().catch(() => ({}));
    if (!res.ok) {
      $("k-error").textContent = "Not done: " + (out.error || res.status) + ".";
      return null;
    }
    $("k-error").textContent = "";
    await load();
    return out;
  }

  async function load() {
    const res = await fetch(api + "?reason=" + encodeURIComponent(reason), { cache: "no-store" });
    const k = await res.json();
    if (!res.ok) {
      $("k-error").textContent = "Could not open the case: " + (k.error || res.status) + ".";
      return;
    }
    $("k-status").textContent = k.status + (k.closed_as ? " (" + k.closed_as + ")" : "");
    $("k-origin").textContent = "from a " + k.origin;
    $("k-deadline").textContent = "Deadline " + k.due_by + ", target " + k.target_by + (k.paused_at ? "; paused since " + time(k.paused_at) : "") + ".";
    const next = $("k-next");
    next.textContent = "";
    for (const to of k.next) {
      const b = el("button", "→ " + to, "small next-status");
      b.type = "button";
      b.dataset.status = to;
      b.addEventListener("click", () => post("/status", { status: to, reason: $("k-change-reason").value.trim() }));
      next.append(b, " ");
    }
    if (k.complaint) {
      const c = k.complaint;
      $("k-narrative").textContent = c.narrative;
      $("k-when").textContent = time(c.occurred_at);
      $("k-where").textContent = [c.place, c.location ? c.location.lat + ", " + c.location.lon : ""].filter(Boolean).join(" · ") || "not given";
      $("k-officers").textContent = (c.officers || []).map((o) => [o.badge ? "badge " + o.badge : "", o.name, o.description].filter(Boolean).join(", ")).join("; ") || "none";
      $("k-contact").textContent = c.contact ? [c.contact.email, c.contact.phone].filter(Boolean).join(", ") : "anonymous";
      $("k-complaint").hidden = false;
    }
    const algs = $("k-allegations");
    algs.textContent = "";
    for (const a of k.allegations) {
      const d = el("div", undefined, "review allegation");
      d.dataset.allegation = a.id;
      d.append(el("strong", a.category), el("span", " · " + (a.officer === "unidentified" ? "officer unidentified" : "badge " + a.officer) + (a.policy ? " · " + a.policy : "")));
      for (const [stage, f] of [["recommended", a.recommended], ["final", a.final]]) {
        if (f) d.append(el("p", stage + ": " + f.finding + " (" + time(f.at) + ") on the basis: " + f.basis, "finding " + stage));
      }
      const form = $("finding-form").content.firstElementChild.cloneNode(true);
      form.querySelector(".f-stage").value = a.recommended ? "final" : "recommended";
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        post("/allegations/" + encodeURIComponent(a.id) + "/findings", {
          stage: form.querySelector(".f-stage").value, finding: form.querySelector(".f-finding").value, basis: form.querySelector(".f-basis").value.trim(),
        });
      });
      d.append(form);
      algs.append(d);
    }
    if (!k.allegations.length) algs.append(el("p", "None yet.", "hint"));
    const ev = $("k-evidence");
    ev.textContent = "";
    for (const e of k.evidence) {
      const a = el("a", e, "mono");
      a.href = "/staff/evidence/" + encodeURIComponent(e) + "?reason=" + encodeURIComponent(reason);
      const li = el("li");
      li.append(a);
      ev.append(li);
    }
    const inc = $("k-incidents");
    inc.textContent = "";
    for (const i of k.incidents) {
      const a = el("a", i, "mono");
      a.href = "/staff/incidents/" + encodeURIComponent(i);
      const li = el("li");
      li.append(a);
      inc.append(li);
    }
    const notes = $("k-notes");
    notes.textContent = "";
    for (const n of k.notes) {
      const li = el("li", undefined, "note");
      li.append(el("time", time(n.at)), el("p", n.text, "pre"), el("p", n.by, "hint"));
      notes.append(li);
    }
    const docs = $("k-documents");
    docs.textContent = "";
    for (const d of k.documents) {
      const a = el("a", d.name, "document");
      a.href = api + "/documents/" + d.sha256 + "?reason=" + encodeURIComponent(reason);
      a.download = d.name;
      const li = el("li");
      li.append(a, " ", el("span", window.say.size(d.size) + " · " + time(d.at), "hint"));
      docs.append(li);
    }
    const events = $("k-events");
    events.textContent = "";
    for (const e of k.events) {
      const d = e.details || {}, w = e.words || {};
      const li = el("li", undefined, "event " + e.type);
      li.append(el("time", time(e.at)), el("p", [d.action, d.status, d.category, d.stage, d.finding, d.closed_as].filter(Boolean).join(" · ") + " — " + e.actor + (d.role ? " (" + d.role + ")" : "")));
      if (w.reason) li.append(el("p", "Reason: " + w.reason, "reason"));
      if (w.basis) li.append(el("p", "Basis: " + w.basis));
      events.append(li);
    }
  }

  $("allegation-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    post("/allegations", { officer_badge: $("a-badge").value.trim(), category: $("a-category").value, policy: $("a-policy").value.trim() });
  });
  $("evidence-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    post("/evidence", { evidence_id: $("e-add-id").value.trim() });
  });
  $("note-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (await post("/notes", { text: $("note-text").value })) $("note-text").value = "";
  });
  $("document-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = $("document-file").files[0];
    if (!f) return;
    const res = await fetch(api + "/documents?name=" + encodeURIComponent(f.name), { method: "POST", headers: { "X-CSRF-Token": csrf }, body: f });
    const out = await res.json().catch(() => ({}));
    $("k-error").textContent = res.ok ? "" : "Not attached: " + (out.error || res.status) + ".";
    await load();
  });
  $("pause-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    post("/pause", { reason: $("pause-reason").value.trim() });
  });
  $("resume").addEventListener("click", () => post("/resume"));
  load();
})();

// The civilian's evidence page: the footage, its receipt, the reviews of
// it and every access to it, fetched with the item's access token. The
// token comes from the link's fragment (#token=…, never sent to the
// server) or from this phone's storage, where the capture page keeps it.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const id = document.body.dataset.evidence;
  const api = "/api/v1/evidence/" + encodeURIComponent(id);
  const KEPT = "sightline-tokens";

  function kept() {
    try { return JSON.parse(localStorage.getItem(KEPT) || "{}"); } catch (e) { return {}; }
  }
  function keep(token) {
    try {
      const k = kept();
      k[id] = token;
      localStorage.setItem(KEPT, JSON.stringify(k));
    } catch (e) { /* private mode */ }
  }

  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  let token = fromLink || kept()[id] || "";

  function get(path) {
    return fetch(api + path, { headers: { Authorization: "Bearer " + token }, cache: "no-store" }).then((res) => {
      if (res.status === 404) throw new Error("no footage with this id for this token");
      if (!res.ok) throw new Error("the server answered " + res.status);
      return res.json();
    });
  }

  function size(n) {
    const units = ["bytes", "KB", "MB", "GB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function when(s) { return new Date(s).toLocaleString(); }

  function saveLink(a, name, obj) {
    a.href = URL.createObjectURL(new Blob([JSON.stringify(obj, null, 2)], { type: "application/json" }));
    a.download = name;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  async function load() {
    $("load-error").hidden = true;
    let it;
    try {
      it = await get("");
    } catch (err) {
      $("load-error").textContent = "Could not open the footage: " + err.message + ".";
      $("load-error").hidden = false;
      $("need-token").hidden = false;
      return;
    }
    keep(token);
    $("need-token").hidden = true;
    $("e-id").textContent = it.id;
    $("e-sha").textContent = it.sha256;
    $("e-size").textContent = size(it.size) + (it.duration_s ? ", " + it.duration_s.toFixed(1) + " s" : "");
    $("e-received").textContent = when(it.received_at);
    $("partial-note").hidden = !it.partial;
    if (it.media_type === "video" || it.media_type === "audio") {
      $("player").src = api + "/review?access_token=" + encodeURIComponent(token);
    } else {
      $("player").hidden = true;
    }
    $("footage").hidden = false;
    $("share").hidden = false;
    window.sightlineShare($("share"), it.id, token);
    get("/receipt").then((rc) => saveLink($("e-receipt"), it.id + ".receipt.json", rc)).catch(() => {});
    await Promise.all([reviews(), accesses()]);
  }

  async function reviews() {
    const list = (await get("/reviews")).reviews;
    const box = $("review-list");
    box.textContent = "";
    for (const r of list) {
      const d = el("div", undefined, "review");
      d.id = "review-" + r.id;
      d.appendChild(el("strong", r.outcome, "outcome"));
      d.appendChild(el("span", " · " + r.author_name + (r.author_badge ? " (badge " + r.author_badge + ")" : "") +
        (r.author_unit ? ", " + r.author_unit : "") + " · " + when(r.at)));
      d.appendChild(el("p", "Seen: " + r.seen, "seen"));
      if (r.notes) d.appendChild(el("p", "Notes: " + r.notes));
      if (r.attached.length) d.appendChild(el("p", "Watched with " + r.attached.length + " police camera recording(s)."));
      if (r.corrects) d.appendChild(el("p", "Corrects review " + r.corrects + "."));
      if (r.incident) d.appendChild(el("p", "Referred for internal review (incident " + r.incident + ").", "referred"));
      const a = el("a", "Save this review's receipt", "button secondary");
      get("/reviews/" + encodeURIComponent(r.id) + "/receipt").then((rc) => saveLink(a, r.id + ".receipt.json", rc)).catch(() => {});
      d.appendChild(a);
      box.appendChild(d);
    }
    if (!list.length) box.appendChild(el("p", "No one has reviewed this footage.", "hint"));
    $("reviews").hidden = false;
  }

  // What each kind of event says, in words.
  const words = {
    received: "stored", partial: "part received", viewed: "watched", downloaded: "downloaded", accessed: "opened",
    denied: "refused", shared: "shared", involved: "officer recorded as involved", derived: "copy made for playback",
    incident: "incident", reviewed: "reviewed",
  };

  async function accesses() {
    const events = (await get("/custody")).events;
    const body = $("event-list");
    body.textContent = "";
    for (const e of events) {
      const d = e.details || {};
      const tr = document.createElement("tr");
      tr.className = "event " + e.type;
      tr.appendChild(el("td", when(e.at)));
      tr.appendChild(el("td", (words[e.type] || e.type) + (d.action ? " (" + d.action + ")" : "")));
      tr.appendChild(el("td", (d.role ? d.role + " " : "") + e.actor));
      const more = [];
      if (e.type === "partial") more.push(size(Number(d.size)) + " had arrived, SHA-256 " + e.sha256);
      // Words (a reason, a badge) are not in the public log: the server
      // shows them to those who may read this list, with the sealed
      // document whose SHA-256 the log entry names.
      const w = e.words || {};
      if (w.reason) more.push("reason: " + w.reason);
      if (w.badge) more.push("badge " + w.badge);
      if (d.rule) more.push(d.outcome + ": " + d.rule);
      if (d.via) more.push("via " + d.via);
      if (d.with) more.push("with " + (d.with_role ? d.with_role + " " : "") + d.with);
      if (d.review) more.push("review " + d.review);
      if (d.kind) more.push(d.kind);
      tr.appendChild(el("td", more.join("; ")));
      body.appendChild(tr);
    }
    $("accesses").hidden = false;
  }

  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token-input").value.trim();
    load();
  });

  if (token) load();
  else $("need-token").hidden = false;
})();

// The civilian's evidence page: the footage and what its file says, its
// receipt, sharing it by name, the reviews of it and everything done with
// it, fetched with the item's access token. The token comes from the
// link's fragment (#token=…, never sent to the server) or from this
// phone's storage, where the capture and upload pages keep it.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const { el, time, size, length, person } = window.say;
  const id = document.body.dataset.evidence;
  const api = "/api/v1/evidence/" + encodeURIComponent(id);
  const record = window.sightlineRecord;

  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  let token = fromLink || record.kept()[id] || "";
  // The log names a token by the first 16 hex digits of its SHA-256: the
  // page knows its own, to say "you".
  let mine = "";

  async function call(method, path, body) {
    const res = await fetch(api + path, {
      method, cache: "no-store",
      headers: Object.assign({ Authorization: "Bearer " + token }, body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status === 204) return null;
    const out = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error(out.error || "the server answered " + res.status);
      err.status = res.status;
      throw err;
    }
    return out;
  }
  const get = (path) => call("GET", path);

  function saveLink(a, name, obj) {
    a.href = URL.createObjectURL(new Blob([JSON.stringify(obj, null, 2)], { type: "application/json" }));
    a.download = name;
  }

  // A link sent while recording opens before the item is kept (at the
  // latest minutes after the phone falls silent): the page looks again a
  // few times, less and less often, for a wrong token looks the same and
  // every miss counts against this address's limit of failed attempts.
  const again = [20, 40, 80, 160, 320];
  let retry = null, tries = 0;
  async function load() {
    $("load-error").hidden = true;
    clearTimeout(retry);
    let it;
    try {
      it = await get("");
    } catch (err) {
      if (err.status === 404 && fromLink && tries < again.length) {
        $("arriving").hidden = false;
        retry = setTimeout(load, again[tries++] * 1000);
        return;
      }
      $("arriving").hidden = true;
      $("load-error").textContent = "Could not open the footage: " + (err.status === 404 ? "no footage with this id for this token (yet)" : err.message) + ".";
      $("load-error").hidden = false;
      $("need-token").hidden = false;
      return;
    }
    $("arriving").hidden = true;
    record.remember(id, token);
    const sum = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
    mine = "token:" + Array.from(new Uint8Array(sum).slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
    $("need-token").hidden = true;
    showItem(it);
    window.sightlineShare($("share"), it.id, token);
    $("share").hidden = false;
    get("/receipt").then((rc) => saveLink($("e-receipt"), it.id + ".receipt.json", rc)).catch(() => {});
    await Promise.all([shares(), reviews(), accesses()]);
  }

  function showItem(it) {
    $("e-id").textContent = it.id;
    $("e-sha").textContent = it.sha256;
    $("e-size").textContent = size(it.size);
    $("e-length").textContent = length(it.duration_s) || "not known";
    $("e-received").textContent = time(it.received_at);
    $("e-recorded").textContent = it.captured_at ? time(it.captured_at) : "the file does not say";
    const place = $("e-place");
    place.textContent = "";
    if (it.location) {
      const { lat, lon } = it.location;
      place.append(lat.toFixed(5) + ", " + lon.toFixed(5) + " ");
      const a = el("a", "map");
      a.href = "https://www.openstreetmap.org/?mlat=" + lat + "&mlon=" + lon + "#map=18/" + lat + "/" + lon;
      a.rel = "noopener noreferrer";
      a.target = "_blank";
      a.id = "e-map";
      place.append(a);
    } else {
      place.textContent = "the file does not say";
    }
    const cam = it.camera ? [it.camera.make, it.camera.model].filter(Boolean).join(" ") : "";
    $("e-device").textContent = [it.device, cam].filter(Boolean).join(" · ") || "not given";
    $("e-note").textContent = it.note || "none";
    $("partial-note").hidden = !it.partial;
    if (it.media_type === "video" || it.media_type === "audio") {
      $("player").src = api + "/review?access_token=" + encodeURIComponent(token);
    } else {
      $("player").hidden = true;
    }
    $("e-complain").href = "/complain?evidence=" + encodeURIComponent(it.id);
    $("footage").hidden = false;
  }

  // ---- sharing by name ---------------------------------------------------

  async function shares() {
    const list = (await get("/shares")).shares;
    const ul = $("share-list");
    ul.textContent = "";
    for (const p of list) {
      const li = el("li", "Shared with " + person(p) + " ");
      li.className = "share";
      li.dataset.user = p.id;
      const b = el("button", "Withdraw", "secondary small");
      b.type = "button";
      b.onclick = async () => {
        b.disabled = true;
        try {
          await call("DELETE", "/shares/" + encodeURIComponent(p.id));
          $("share-status").textContent = "Withdrawn: " + p.name + " can no longer open it.";
        } catch (err) {
          $("share-status").textContent = "Could not withdraw: " + err.message + ".";
        }
        await Promise.all([shares(), accesses()]);
      };
      li.append(b);
      ul.append(li);
    }
  }

  $("share-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("share-name").value.trim();
    const status = $("share-status");
    status.className = "";
    try {
      await call("POST", "/shares", { user: name });
      status.textContent = "Shared with " + name + ".";
      $("share-name").value = "";
    } catch (err) {
      status.textContent = "Not shared: " + err.message + ".";
      status.className = "error";
    }
    await Promise.all([shares(), accesses()]);
  });

  // ---- reviews -----------------------------------------------------------

  async function reviews() {
    const list = (await get("/reviews")).reviews;
    const box = $("review-list");
    box.textContent = "";
    for (const r of list) {
      const d = el("div", undefined, "review");
      d.id = "review-" + r.id;
      d.appendChild(el("strong", r.outcome, "outcome"));
      d.appendChild(el("span", " · " + r.author_name + (r.author_badge ? " (badge " + r.author_badge + ")" : "") +
        (r.author_unit ? ", " + r.author_unit : "") + " · " + time(r.at)));
      d.appendChild(el("p", "Seen: " + r.seen, "seen"));
      if (r.notes) d.appendChild(el("p", "Notes: " + r.notes));
      if (r.attached.length) d.appendChild(el("p", "Watched with " + window.say.count(r.attached.length, "police camera recording") + "."));
      if (r.corrects) d.appendChild(el("p", "Corrects review " + r.corrects + "."));
      if (r.incident) d.appendChild(el("p", "Referred for internal review (incident " + r.incident + ").", "referred"));
      const a = el("a", "Save this review's receipt", "button secondary");
      a.id = "receipt-" + r.id;
      // The saved file is what `sightline verify` reads: the review's
      // document and the receipt of its logged event.
      get("/reviews/" + encodeURIComponent(r.id) + "/receipt").then((rc) => saveLink(a, r.id + ".review.json", rc)).catch(() => {});
      d.appendChild(a);
      box.appendChild(d);
    }
    if (!list.length) box.appendChild(el("p", "No one has reviewed this footage.", "hint"));
    $("reviews").hidden = false;
  }

  // ---- everything done with it ---------------------------------------------

  // who says the actor of an event.
  function who(e, people) {
    const a = e.actor;
    if (people[a]) return person(people[a]);
    if (a === mine) return "You";
    if (a.startsWith("token:")) return "Someone with another item's token";
    if (a.startsWith("device:")) return "A police camera dock";
    if (a === "anonymous") return "Someone not signed in";
    if (a.startsWith("user:")) return "A staff member";
    return "Sightline";
  }

  // what says what happened, in plain words.
  function what(e, people) {
    const d = e.details || {};
    const w = e.words || {};
    const refused = d.outcome === "denied" || e.type === "denied";
    const withWhom = d.with ? (people[d.with] ? person(people[d.with]) : "a staff member") : "";
    // What each action is, as "opened …" and as "tried to …".
    const actions = {
      "read-item": ["opened its record", "open its record"], "read-original": ["opened the video", "watch the video"],
      "read-receipt": ["opened its receipt", "open its receipt"], "read-custody": ["opened this list", "open this list"],
      "share-item": ["shared it", "share it"], "record-involved": ["recorded an officer as involved", "record an officer as involved"],
      "review-item": ["opened it to review", "review it"], "edit-review": ["changed a review", "change a review"],
      "claim-share-code": ["used a code", "use a code"],
    };
    const act = actions[d.action] || ["opened it", "open it"];
    if (refused) return "tried to " + act[1] + ", and was refused";
    switch (e.type) {
      case "received": return "Your footage was stored, exactly as sent, and logged";
      case "partial": return "Part of the recording had arrived: " + size(Number(d.size));
      case "viewed": return "watched your video";
      case "downloaded": return "downloaded a copy of your video";
      case "accessed": return act[0];
      case "shared":
        if (d.action === "claim-share-code") return "opened it with your code";
        if (d.via === "share code") return "made a share code" + (d.expires_at ? ", valid until " + time(d.expires_at) : "");
        return "shared it with " + withWhom;
      case "unshared": return "withdrew the share with " + withWhom;
      case "involved": return "recorded an officer as involved" + (w.badge ? " (badge " + w.badge + ")" : "");
      case "derived": return "A copy was made so that browsers can play it (" + (d.kind || "copy") + "); your original is unchanged";
      case "incident": return "put it on an incident for review";
      case "case": return d.action === "evidence-added" ? "attached it to a complaint or an internal review" : "worked on a case that holds it";
      case "reviewed": return "wrote a review (below)";
    }
    return e.type;
  }

  async function accesses() {
    const body = await get("/custody");
    const people = body.people || {};
    const list = $("event-list");
    list.textContent = "";
    const events = body.events.slice().sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.index - b.index));
    for (const e of events) {
      const li = el("li", undefined, "event " + e.type + ((e.details || {}).outcome === "denied" ? " refused" : ""));
      li.appendChild(el("time", time(e.at)));
      li.lastChild.dateTime = e.at;
      const sentence = what(e, people);
      const actorless = ["received", "partial", "derived"].includes(e.type);
      li.appendChild(el("p", actorless ? sentence + "." : who(e, people) + " " + sentence + "."));
      const w = e.words || {};
      if (w.reason) li.appendChild(el("p", "Reason given: " + w.reason, "reason"));
      li.appendChild(el("p", "Log entry " + e.index, "hint"));
      list.appendChild(li);
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

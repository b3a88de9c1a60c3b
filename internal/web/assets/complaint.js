// The complainant's page: the case's status and its history with dates,
// the deadline, the allegations and (once final) their findings, the
// notices, and everyone who opened the complaint or its footage, read with
// the case's key from the link's fragment or this browser's storage.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const { el, time, person } = window.say;
  const record = window.sightlineRecord;
  const id = document.body.dataset.case;
  const api = "/api/v1/complaints/" + encodeURIComponent(id);
  let token = new URLSearchParams(location.hash.slice(1)).get("token") || record.keptCase(id);

  async function call(method, path, body) {
    const res = await fetch(api + path, {
      method, cache: "no-store",
      headers: Object.assign({ Authorization: "Bearer " + token }, body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status === 204) return null;
    const out = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(res.status === 404 ? "no case with this number for this key" : out.error || "the server answered " + res.status);
    return out;
  }

  const said = {
    received: "Received", acknowledged: "Acknowledged: someone will look into it", investigating: "Being investigated",
    "findings-recommended": "Findings recommended, waiting for a decision", closed: "Closed with findings",
    "administratively-closed": "Closed without findings", reopened: "Reopened",
  };
  const actions = {
    "read-case": "opened your complaint", "read-item": "opened the record of your footage", "read-original": "watched your footage",
    "read-receipt": "opened your footage's receipt", "read-custody": "opened your footage's access list",
  };

  async function load() {
    let c;
    try {
      c = await call("GET", "");
    } catch (err) {
      $("load-error").textContent = "Could not open the case: " + err.message + ".";
      $("load-error").hidden = false;
      $("need-key").hidden = false;
      return;
    }
    record.rememberCase(id, token);
    $("need-key").hidden = true;
    $("c-number").textContent = c.case_number;
    $("c-status").textContent = said[c.status] + (c.closed_as ? " (" + c.closed_as + ")" : "");
    $("c-deadline").textContent = c.deadline ? "To be finished by " + new Date(c.deadline + "T00:00:00").toLocaleDateString() + "." : "";
    const history = $("c-history");
    history.textContent = "";
    for (const h of c.history) {
      const li = el("li", undefined, "status " + h.status);
      li.append(el("time", time(h.at)), el("p", said[h.status] || h.status));
      history.append(li);
    }
    const algs = $("c-allegations");
    algs.textContent = "";
    for (const a of c.allegations) algs.append(el("li", a.category.replace(/-/g, " ") + (a.finding ? ": " + a.finding.replace(/-/g, " ") : ": no finding yet"), "allegation"));
    if (!c.allegations.length) algs.append(el("li", "None recorded yet.", "hint"));
    const notices = $("c-notices");
    notices.textContent = "";
    for (const n of c.notices) notices.append(el("li", time(n.at) + " · " + n.text, "notice"));
    if (!c.notices.length) notices.append(el("li", "None yet.", "hint"));
    const list = $("c-access");
    list.textContent = "";
    for (const a of c.access) {
      const li = el("li", undefined, "access " + a.type + (a.outcome === "denied" ? " refused" : ""));
      const who = c.people[a.actor] ? person(c.people[a.actor]) : a.role ? "Someone (" + a.role + ")" : "Someone";
      const what = a.outcome === "denied" ? "tried to open it, and was refused" : actions[a.action] || "opened it";
      li.append(el("time", time(a.at)), el("p", who + " " + what + "."));
      if (a.reason) li.append(el("p", "Reason given: " + a.reason, "reason"));
      list.append(li);
    }
    if (!c.access.length) list.append(el("li", "No one yet.", "hint"));
    $("case").hidden = $("accesses").hidden = false;
    $("more").hidden = !["received", "acknowledged", "investigating", "findings-recommended", "reopened"].includes(c.status);
  }

  $("attach-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await call("POST", "/evidence", { id: $("attach-id").value.trim(), token: $("attach-token").value.trim() });
      $("more-status").textContent = "Added.";
    } catch (err) {
      $("more-status").textContent = "Not added: " + err.message + ".";
    }
    load();
  });
  $("withdraw").addEventListener("click", async () => {
    if (!confirm("Withdraw the complaint? The case is closed as withdrawn, and kept.")) return;
    try {
      await call("POST", "/withdraw");
    } catch (err) {
      $("more-status").textContent = "Not withdrawn: " + err.message + ".";
    }
    load();
  });
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("key-input").value.trim();
    load();
  });

  if (token) load();
  else $("need-key").hidden = false;
})();

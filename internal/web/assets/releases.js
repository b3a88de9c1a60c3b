// The records office's page of an incident's releases: a new version
// made from the form, and the steps a version's buttons take. Each is a
// call of the release API, which decides and logs it; the page is then
// loaded again to show the result.
"use strict";
(() => {
  const root = document.getElementById("releases");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const csrf = root.dataset.csrf;

  async function send(method, url, body) {
    const res = await fetch(url, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) {
      const e = await res.json().catch(() => ({}));
      $("release-status").textContent = "Not done: " + (e.error || res.status) + ".";
      return false;
    }
    location.reload();
    return true;
  }

  const seconds = (input) => Number(input.value);

  const form = $("release-form");
  if (form) {
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const spans = [];
      for (const row of form.querySelectorAll(".span-row")) {
        if (!row.querySelector(".span-show").checked) continue;
        const span = { evidence_id: row.dataset.evidence, from_s: seconds(row.querySelector(".span-from")), to_s: seconds(row.querySelector(".span-to")) };
        const redaction = row.querySelector(".span-redaction").value;
        if (redaction) span.redaction_id = redaction;
        spans.push(span);
      }
      const withheld = [];
      for (const row of form.querySelectorAll(".withheld-row")) {
        const ev = row.querySelector(".withheld-evidence").value;
        if (!ev) continue;
        withheld.push({ evidence_id: ev, from_s: seconds(row.querySelector(".withheld-from")), to_s: seconds(row.querySelector(".withheld-to")),
          reason: row.querySelector(".withheld-reason").value });
      }
      send("POST", "/api/v1/releases", { title: $("release-title").value, summary: $("release-summary").value,
        incident_id: root.dataset.incident, spans, withheld });
    });
    $("withheld-add").addEventListener("click", () => {
      const rows = $("withheld-rows");
      const copy = rows.querySelector(".withheld-row").cloneNode(true);
      copy.querySelector(".withheld-evidence").value = "";
      rows.appendChild(copy);
    });
  }

  for (const [cls, step] of [["approve", "approve"], ["publish", "publish"]]) {
    for (const b of root.querySelectorAll("button." + cls)) {
      b.addEventListener("click", () => {
        b.disabled = true;
        send("POST", "/api/v1/releases/" + encodeURIComponent(b.dataset.release) + "/" + step);
      });
    }
  }

  // A version being published: look again until it is done.
  const publishing = root.querySelector(".version[data-publishing]");
  if (publishing) {
    const id = publishing.dataset.release;
    const poll = async () => {
      const res = await fetch("/api/v1/releases/" + encodeURIComponent(id), { cache: "no-store" });
      const rel = res.ok ? await res.json() : null;
      if (rel && (!rel.publishing || rel.status === "published")) {
        location.reload();
        return;
      }
      setTimeout(poll, 1000);
    };
    setTimeout(poll, 1000);
  }
})();

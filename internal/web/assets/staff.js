// The staff home page: open an incident, find footage.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const csrf = $("staff").dataset.csrf;
  const form = $("incident-form");
  if (form) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const res = await fetch("/api/v1/incidents", {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ title: $("incident-title").value.trim() }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) {
        $("incident-error").textContent = "Could not open it: " + (body.error || res.status) + ".";
        $("incident-error").hidden = false;
        return;
      }
      location.href = "/staff/incidents/" + encodeURIComponent(body.id);
    });
  }
  window.sightlineFind($("find"), (it) => {
    const a = window.say.el("a", "Open", "open");
    a.href = "/staff/evidence/" + encodeURIComponent(it.id);
    return [a];
  });
})();

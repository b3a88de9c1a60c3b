// The complaint page: what happened, when and where, the officers, the
// footage (filled in from the evidence page's link, with the tokens this
// browser keeps) and, if the complainant wants, how to reach them.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const record = window.sightlineRecord;
  const kept = record.kept();
  const attach = new URLSearchParams(location.search).getAll("evidence").filter((id) => kept[id]);
  if (attach.length) {
    for (const id of attach) $("attached-list").append(window.say.el("li", id, "mono"));
    $("attached").hidden = false;
  }

  $("complaint-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { narrative: $("narrative").value, occurred_at: new Date($("occurred-at").value).toISOString() };
    if ($("place").value.trim()) body.place = $("place").value.trim();
    const officer = { badge: $("officer-badge").value.trim(), name: $("officer-name").value.trim(), description: $("officer-description").value.trim() };
    if (officer.badge || officer.name || officer.description) body.officers = [officer];
    if (attach.length) body.evidence = attach.map((id) => ({ id, token: kept[id] }));
    const contact = { email: $("email").value.trim(), phone: $("phone").value.trim() };
    if (contact.email || contact.phone) body.contact = contact;
    $("file").disabled = true;
    const res = await fetch("/api/v1/complaints", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const out = await res.json().catch(() => ({}));
    $("file").disabled = false;
    if (!res.ok) {
      $("complaint-error").textContent = "Not filed: " + (out.error || res.status) + ".";
      $("complaint-error").hidden = false;
      return;
    }
    record.rememberCase(out.id, out.token);
    const page = location.origin + "/complaint/" + encodeURIComponent(out.id) + "#token=" + encodeURIComponent(out.token);
    $("case-number").textContent = out.case_number;
    $("case-token").textContent = out.token;
    $("case-page").href = page;
    const file = { format: "sightline-complaint-v1", case_number: out.case_number, case_page: page, token: out.token };
    $("case-save").href = URL.createObjectURL(new Blob([JSON.stringify(file, null, 2)], { type: "application/json" }));
    $("case-save").download = "complaint-" + out.case_number + ".json";
    $("complain").hidden = true;
    $("filed").hidden = false;
  });
})();

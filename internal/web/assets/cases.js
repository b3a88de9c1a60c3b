// The staff list of cases: take one no one investigates, open a review.
"use strict";

(function () {
  const root = document.getElementById("cases");
  const csrf = root.dataset.csrf;
  const post = async (path, body) => {
    const res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body) });
    const out = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(out.error || res.status);
    return out;
  };
  const fail = (err) => { document.getElementById("cases-status").textContent = "Not done: " + err.message + "."; };
  for (const b of root.querySelectorAll(".take-case")) {
    b.addEventListener("click", () => {
      const id = b.closest("tr").dataset.case;
      post("/api/v1/cases/" + encodeURIComponent(id) + "/assign", { user: root.dataset.me })
        .then(() => { location.href = "/staff/cases/" + encodeURIComponent(id); }).catch(fail);
    });
  }
  for (const b of root.querySelectorAll(".assign-case")) {
    b.addEventListener("click", () => {
      const tr = b.closest("tr");
      post("/api/v1/cases/" + encodeURIComponent(tr.dataset.case) + "/assign", { user: tr.querySelector(".assign-name").value.trim() })
        .then(() => { b.replaceWith(document.createTextNode("assigned")); }).catch(fail);
    });
  }
  const open = document.getElementById("case-open");
  if (open) {
    open.addEventListener("click", () => post("/api/v1/cases", {}).then((c) => { location.href = "/staff/cases/" + encodeURIComponent(c.id); }).catch(fail));
  }
})();

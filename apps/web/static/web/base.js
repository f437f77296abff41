/* Site-wide behaviour, no inline handlers (so a strict Content-Security-Policy holds). */
document.querySelectorAll("form.lang select").forEach((s) => s.addEventListener("change", () => s.form.submit()));
document.querySelectorAll("[data-print]").forEach((a) => a.addEventListener("click", (e) => { e.preventDefault(); window.print(); }));
document.querySelectorAll("select[data-autosubmit]").forEach((s) => s.addEventListener("change", () => s.form.submit()));

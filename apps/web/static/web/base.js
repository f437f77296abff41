/* Site-wide behaviour, no inline handlers (so a strict Content-Security-Policy holds), and the helpers
   the page scripts share (this file loads before them): window.linli.esc, window.linli.plural. */
window.linli = {
  // text put into HTML
  esc: (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])),
  // forms: {one, other} from apps.common.labels.plural_forms
  plural: (forms, n) => (n === 1 ? forms.one : forms.other),
};
document.querySelectorAll("form.lang select").forEach((s) => s.addEventListener("change", () => s.form.submit()));
document.querySelectorAll("[data-print]").forEach((a) => a.addEventListener("click", (e) => { e.preventDefault(); window.print(); }));
document.querySelectorAll("select[data-autosubmit]").forEach((s) => s.addEventListener("change", () => s.form.submit()));

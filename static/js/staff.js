// The staff console's behaviour. Loaded as a file so the content security policy can forbid
// inline scripts.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // An autocomplete list filter: choosing an object reloads the list filtered on it (first page).
  // select2 announces the choice through jQuery, so the handler is jQuery's too.
  const $ = window.django && window.django.jQuery;
  if (!$) {
    return;
  }
  $("select[data-filter-param]").on("change", function () {
    const url = new URL(window.location.href);
    url.searchParams.delete("p");
    url.searchParams.delete("e");
    if (this.value) {
      url.searchParams.set(this.dataset.filterParam, this.value);
    } else {
      url.searchParams.delete(this.dataset.filterParam);
    }
    window.location.assign(url.toString());
  });
});

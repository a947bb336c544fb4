// hhEl(tag, {attr: value}, ...children): an element built from text only (API data never
// becomes HTML). "class" sets the class, "text" the text; false, null and undefined attributes
// are left out, true ones written without a value; children may be nodes, strings or arrays.
"use strict";
window.hhEl = function (tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === "") continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
};

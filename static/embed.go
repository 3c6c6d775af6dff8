// Package static embeds the CSS, JavaScript and vendored libraries the pages
// load, so deployex serves them itself and never depends on a CDN.
package static

import "embed"

// FS holds app.css, app.js and vendor/.
//
//go:embed app.css app.js vendor
var FS embed.FS

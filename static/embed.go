// Package static embeds the CSS, JavaScript and vendored libraries the pages
// load, so deployex serves them itself and never depends on a CDN.
package static

import "embed"

// FS holds the stylesheet, the page scripts and vendor/.
//
//go:embed *.css *.js vendor
var FS embed.FS

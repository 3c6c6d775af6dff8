package views

import (
	"encoding/json"
	"strconv"
	"time"

	"deployex/app"
	"deployex/static"
)

// csrfHeader lets every htmx request carry the CSRF token without a form field.
func csrfHeader(token string) string {
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": token})
	return string(b)
}

func statusText(code int) string {
	switch code {
	case 403:
		return "Forbidden"
	case 404:
		return "Not found"
	case 429:
		return "Too many attempts"
	default:
		if code >= 500 {
			return "Something went wrong"
		}
		return "Request refused"
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func pidText(pid int) string {
	if pid == 0 {
		return ""
	}
	return strconv.Itoa(pid)
}

func uptimeText(i app.Instance, now time.Time) string {
	if d := i.Uptime(now); d > 0 {
		return Duration(d)
	}
	return "—"
}

func choiceNote(c VersionChoice) string {
	switch {
	case c.InBucket && c.Deployed:
		return " (in the bucket, deployed before)"
	case c.InBucket:
		return " (in the bucket)"
	default:
		return " (deployed before; no longer in the bucket)"
	}
}

func took(d Deployment) string {
	if d.Finished == nil {
		return "—"
	}
	return d.Finished.Sub(d.Started).Round(time.Second).String()
}

// asset is the versioned address of one of deployex's own static files.
func asset(name string) string { return static.URL(name) }

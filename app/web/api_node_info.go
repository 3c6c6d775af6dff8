package web

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"deployex/app/nodes"
	"deployex/app/otp"
)

// nodeInfoTimeout bounds the remote call behind one request.
const nodeInfoTimeout = 3 * time.Second

// apiNodeInfoBody is the contract of GET /api/v1/apps/{app}/instances/{n}/info.
type apiNodeInfoBody struct {
	Node          string            `json:"node"`
	OSPid         int64             `json:"os_pid"`
	OTPRelease    string            `json:"otp_release"`
	ERTSVersion   string            `json:"erts_version"`
	ElixirVersion string            `json:"elixir_version"` // "" when Elixir is not loaded
	Memory        apiMemory         `json:"memory"`
	ProcessCount  int64             `json:"process_count"`
	ProcessLimit  int64             `json:"process_limit"`
	PortCount     int64             `json:"port_count"`
	PortLimit     int64             `json:"port_limit"`
	AtomCount     int64             `json:"atom_count"`
	AtomLimit     int64             `json:"atom_limit"`
	UptimeS       int64             `json:"uptime_s"`
	Applications  map[string]string `json:"applications"` // loaded application → version
}

// apiMemory is erlang:memory/0 in bytes.
type apiMemory struct {
	Total     int64 `json:"total"`
	Processes int64 `json:"processes"`
	Binary    int64 `json:"binary"`
	ETS       int64 `json:"ets"`
	Atom      int64 `json:"atom"`
}

// apiNodeInfo reads a replica's runtime facts over distribution now: an API
// client asks once, unlike a dashboard card, which shows the cached memory.
func (s *Server) apiNodeInfo(c *fiber.Ctx) error {
	spec, n, err := s.instanceParam(c)
	if err != nil {
		return err
	}
	if s.Nodes == nil {
		return fiber.NewError(fiber.StatusConflict, "OTP distribution is off (DEPLOYEX_OTP_DISTRIBUTION=false)")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), nodeInfoTimeout)
	defer cancel()
	info, err := s.Nodes.Info(ctx, spec.Name, n)
	switch {
	case errors.Is(err, nodes.ErrNotRunning), errors.Is(err, nodes.ErrNotConnected):
		return fiber.NewError(fiber.StatusServiceUnavailable, err.Error())
	case err != nil:
		return fiber.NewError(fiber.StatusBadGateway, "node info: "+err.Error())
	}
	return c.JSON(toAPINodeInfo(info))
}

func toAPINodeInfo(i otp.NodeInfo) apiNodeInfoBody {
	return apiNodeInfoBody{
		Node: i.Node, OSPid: i.OSPid, OTPRelease: i.OTPRelease, ERTSVersion: i.ERTSVersion, ElixirVersion: i.ElixirVersion,
		Memory: apiMemory{Total: i.Memory.Total, Processes: i.Memory.Processes, Binary: i.Memory.Binary,
			ETS: i.Memory.ETS, Atom: i.Memory.Atom},
		ProcessCount: i.ProcessCount, ProcessLimit: i.ProcessLimit, PortCount: i.PortCount, PortLimit: i.PortLimit,
		AtomCount: i.AtomCount, AtomLimit: i.AtomLimit, UptimeS: int64(i.Uptime.Seconds()), Applications: i.Applications,
	}
}

package cli

import (
	"bufio"
	"fmt"
	"strings"

	"deployex/app/auth"
)

// hashPassword reads one line so the password never appears in argv or shell history.
func hashPassword(e Env) int {
	line, err := bufio.NewReader(e.Stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(e.Stderr, "deployex hash-password: give the password on stdin")
		return exitConfig
	}
	hash, err := auth.HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		fmt.Fprintln(e.Stderr, "deployex hash-password:", err)
		return exitConfig
	}
	fmt.Fprintln(e.Stdout, hash)
	return exitOK
}

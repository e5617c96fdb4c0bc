package artifact

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// parseChecksum returns the lowercase hex SHA-256 digest that a checksum
// file, as sha256sum writes it, gives for the file named name. Each line is
// "HEX  NAME" or "HEX *NAME" (binary mode), as `sha256sum -c` reads them;
// the line whose NAME has name as its base name counts, so one listing may
// serve several artifacts. A file of a single line may hold the digest
// alone. Blank lines and # comments are skipped. A malformed line, a
// listing without name, and lines for name that disagree are errors: a
// checksum file is not to be half trusted.
func parseChecksum(text, name string) (string, error) {
	var lines []checksumLine
	for i, raw := range strings.Split(text, "\n") {
		raw = strings.TrimSuffix(raw, "\r")
		if strings.TrimSpace(raw) == "" || strings.HasPrefix(raw, "#") {
			continue
		}
		l, err := parseChecksumLine(raw)
		if err != nil {
			return "", fmt.Errorf("line %d: %w", i+1, err)
		}
		l.no = i + 1
		lines = append(lines, l)
	}
	switch {
	case len(lines) == 0:
		return "", errors.New("checksum file is empty")
	case len(lines) == 1 && lines[0].name == "":
		return lines[0].sum, nil
	}
	var found *checksumLine
	var others []string
	for i, l := range lines {
		switch {
		case l.name == "":
			return "", fmt.Errorf("line %d: a digest without a file name, in a file of several lines", l.no)
		case path.Base(l.name) != name:
			others = append(others, l.name)
		case found == nil:
			found = &lines[i]
		case found.sum != l.sum:
			return "", fmt.Errorf("lines %d and %d give different digests for %s", found.no, l.no, name)
		}
	}
	if found == nil {
		return "", fmt.Errorf("no line for %s: the file lists %s", name, listed(others))
	}
	return found.sum, nil
}

// checksumLine is one line of a checksum file; name is "" for a digest
// alone.
type checksumLine struct {
	no   int
	sum  string
	name string
}

// parseChecksumLine reads "HEX  NAME", "HEX *NAME" or "HEX". A line that
// starts with a backslash has its name escaped, as sha256sum writes a name
// holding a newline or a backslash.
func parseChecksumLine(line string) (checksumLine, error) {
	escaped := strings.HasPrefix(line, `\`)
	if escaped {
		line = line[1:]
	}
	sum, rest := line, ""
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		sum, rest = line[:i], line[i+1:]
	}
	if !isSHA256(sum) {
		return checksumLine{}, errors.New("first field is not a SHA-256 digest (64 hex digits)")
	}
	l := checksumLine{sum: strings.ToLower(sum)}
	if strings.TrimSpace(rest) == "" {
		return l, nil
	}
	// The mode: ' ' text, '*' binary. sha256sum -c also reads a line
	// without one, the name right after a single space.
	if strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "*") {
		rest = rest[1:]
	}
	if rest == "" {
		return checksumLine{}, errors.New("no file name after the digest")
	}
	if escaped {
		rest = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r").Replace(rest)
	}
	l.name = rest
	return l, nil
}

// listed names a few of names, for an error message.
func listed(names []string) string {
	const most = 3
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:most], ", "), len(names)-most)
}

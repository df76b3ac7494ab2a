package elbapi

import (
	"encoding/xml"
	"io"
)

func decodeXML(r io.Reader, v any) error { return xml.NewDecoder(r).Decode(v) }

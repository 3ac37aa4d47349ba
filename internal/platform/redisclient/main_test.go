package redisclient_test

import (
	"testing"

	"streamcart/internal/platform/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

module github.com/rthub/rthub/examples/go

go 1.19

require github.com/rthub/rthub/bindings/go v0.0.0

// The binding is used from this checkout (it links ../../build/lib/librthub.a by default).
replace github.com/rthub/rthub/bindings/go => ../../bindings/go

module github.com/rthub/rthub/bindings/go

go 1.19

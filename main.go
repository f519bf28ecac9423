// Command terraform-provider-rolling serves the rolling provider to Terraform.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/provider"
)

// version is set by goreleaser through -ldflags.
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/rollingdeploy/rolling",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}

// Command deploylab is the Pulumi program; `pulumi up` runs it. The operator CLI is cmd/deploylab.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/deploylab/deploylab/infra"
)

func main() {
	pulumi.Run(infra.Program)
}

package infra

// Default values of the optional keys. Pulumi.yaml documents the same values; projectfile_test.go keeps the two
// in step.
const (
	DefaultRegion          = "eu-central-1"
	DefaultAppInstanceType = "t3.small"
	DefaultImage           = "debian-12"
	DefaultAdminUser       = "deploy"
	DefaultAppName         = "app"
	DefaultAppPort         = 8080
	DefaultHealthPath      = "/actuator/health/readiness"
	DefaultBluePort        = 8081
	DefaultGreenPort       = 8082
	DefaultVolumeSizeGiB   = 20
	DefaultActiveColor     = "blue"
	DefaultJenkinsType     = "t3.medium"
	DefaultAppRepo         = "https://github.com/example/app.git"
	DefaultBranch          = "main"
	DefaultBuildTool       = "gradle"
	DefaultExecutors       = 2
	DefaultJenkinsHomeGiB  = 30
	DefaultCNI             = "dataplane-v2"
	DefaultMachineType     = "e2-standard-2"
	DefaultMinNodes        = 1
	DefaultMaxNodes        = 3
	DefaultReleaseChannel  = "REGULAR"
	DefaultGKESubnetCidr   = "10.10.0.0/20"
	DefaultGKEPodsCidr     = "10.20.0.0/14"
	DefaultGKEServicesCidr = "10.24.0.0/20"
	DefaultGKEMasterCidr   = "172.16.0.0/28"
)

// SetDefaults fills every optional key that the stack left empty. Defaults that depend on the environment
// (Elastic IP in prod, Spot nodes in training) are decided here too, so Validate and the program see one
// finished configuration.
func SetDefaults(c *Config) {
	setString(&c.Region, DefaultRegion)

	a := &c.AppHost
	setBool(&a.Enabled, true)
	setString(&a.InstanceType, DefaultAppInstanceType)
	setString(&a.Image, DefaultImage)
	setString(&a.AdminUser, DefaultAdminUser)
	setString(&a.AppName, DefaultAppName)
	setInt(&a.AppPort, DefaultAppPort)
	setString(&a.HealthPath, DefaultHealthPath)
	setInt(&a.BluePort, DefaultBluePort)
	setInt(&a.GreenPort, DefaultGreenPort)
	setBool(&a.ElasticIP, c.Env == "prod")
	setInt(&a.VolumeSizeGiB, DefaultVolumeSizeGiB)

	setString(&c.BlueGreen.ActiveColor, DefaultActiveColor)

	j := &c.Jenkins
	setString(&j.InstanceType, DefaultJenkinsType)
	setString(&j.AppRepo, DefaultAppRepo)
	setString(&j.Branch, DefaultBranch)
	setString(&j.BuildTool, DefaultBuildTool)
	setIntPtr(&j.Executors, DefaultExecutors)
	setInt(&j.HomeVolumeGiB, DefaultJenkinsHomeGiB)

	g := &c.GKE
	setString(&g.CNI, DefaultCNI)
	setString(&g.MachineType, DefaultMachineType)
	setIntPtr(&g.MinNodes, DefaultMinNodes)
	setIntPtr(&g.MaxNodes, DefaultMaxNodes)
	setBool(&g.Spot, c.Env == "training")
	setString(&g.ReleaseChannel, DefaultReleaseChannel)
	setString(&g.SubnetCidr, DefaultGKESubnetCidr)
	setString(&g.PodsCidr, DefaultGKEPodsCidr)
	setString(&g.ServicesCidr, DefaultGKEServicesCidr)
	setString(&g.MasterCidr, DefaultGKEMasterCidr)
}

func setString(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setIntPtr(p **int, v int) {
	if *p == nil {
		*p = &v
	}
}

func setBool(p **bool, v bool) {
	if *p == nil {
		*p = &v
	}
}

package infra

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/deploylab/deploylab/components/apphost"
	"github.com/deploylab/deploylab/components/bluegreen"
	"github.com/deploylab/deploylab/components/gke"
	"github.com/deploylab/deploylab/components/jenkins"
	"github.com/deploylab/deploylab/components/network"
)

// This file maps the stack configuration onto each component's arguments: the one place where config keys
// meet component fields.

// AppHostArgs builds the app host of the stack, or a student's host in a classroom; Deploy adds what other
// components provide (Jenkins' deploy key, the ALB).
func AppHostArgs(c *Config, vpc, subnet pulumi.StringInput, tags map[string]string, student *Student) *apphost.HostArgs {
	a := c.AppHost
	args := &apphost.HostArgs{
		VpcID:          vpc,
		SubnetID:       subnet,
		InstanceType:   a.InstanceType,
		Image:          a.Image,
		AdminUser:      a.AdminUser,
		SSHPublicKeys:  a.SSHPublicKeys,
		PasswordAuth:   a.PasswordAuth,
		AdminCidrs:     c.AdminCidrs,
		Domain:         a.Domain,
		CertbotEmail:   a.CertbotEmail,
		CertbotStaging: a.CertbotStaging,
		AppName:        a.AppName,
		AppPort:        a.AppPort,
		BluePort:       a.BluePort,
		GreenPort:      a.GreenPort,
		HealthPath:     a.HealthPath,
		ElasticIP:      *a.ElasticIP,
		VolumeSizeGiB:  a.VolumeSizeGiB,
		Tags:           tags,
	}
	if student != nil {
		// A student's host is theirs alone: no shared domain (one certificate per name) and no Elastic IP.
		args.Domain, args.CertbotEmail, args.ElasticIP = "", "", false
		args.ExtraUsers = []apphost.User{{
			Name:          student.Name,
			SSHPublicKeys: student.SSHPublicKeys,
			PasswordAuth:  c.AppHost.PasswordAuth || len(student.SSHPublicKeys) == 0,
			// The host is the student's own practice machine: they install, configure and break things on it.
			Sudo: true,
		}}
		// The class's Kubernetes part runs from the student's host, with the kubeconfig the class gives them.
		args.Kubectl = c.GKE.Enabled
	}
	return args
}

// BlueGreenArgs puts the ALB in front of the app host.
func BlueGreenArgs(c *Config, net *network.Network, tags map[string]string) *bluegreen.BlueGreenArgs {
	return &bluegreen.BlueGreenArgs{
		VpcID: net.VpcID.ToStringOutput(),
		SubnetIDs: net.PublicSubnetIDs.ApplyT(func(ids []pulumi.ID) []string {
			out := make([]string, len(ids))
			for i, id := range ids {
				out[i] = string(id)
			}
			return out
		}).(pulumi.StringArrayOutput),
		BluePort:           c.AppHost.BluePort,
		GreenPort:          c.AppHost.GreenPort,
		HealthPath:         c.AppHost.HealthPath,
		ActiveColor:        c.BlueGreen.ActiveColor,
		CertificateArn:     c.BlueGreen.CertificateArn,
		AccessLogsBucket:   c.BlueGreen.AccessLogsBucket,
		DeletionProtection: c.Env == "prod",
		Tags:               tags,
	}
}

// JenkinsArgs builds the Jenkins controller.
func JenkinsArgs(c *Config, vpc, subnet pulumi.StringInput, appHostIP string, tags map[string]string) *jenkins.ControllerArgs {
	j := c.Jenkins
	return &jenkins.ControllerArgs{
		VpcID:             vpc,
		SubnetID:          subnet,
		AdminCidrs:        c.AdminCidrs,
		InstanceType:      j.InstanceType,
		AppRepo:           j.AppRepo,
		Branch:            j.Branch,
		BuildTool:         j.BuildTool,
		Executors:         *j.Executors,
		HomeVolumeGiB:     j.HomeVolumeGiB,
		KeepHomeOnDestroy: c.Env == "prod",
		Domain:            j.Domain,
		CertbotEmail:      j.CertbotEmail,
		CertbotStaging:    j.CertbotStaging,
		PromoteFrom:       j.PromoteFrom,
		AppHostAddress:    pulumi.String(appHostIP),
		AppHostUser:       c.AppHost.AdminUser,
		Tags:              tags,
	}
}

// GKEArgs builds the cluster's arguments; Validate calls it too, so the component's own checks report the
// config keys.
func GKEArgs(c *Config) gke.ClusterArgs {
	g := c.GKE
	labels := map[string]string{"env": c.Env, "owner": c.Owner, "managed-by": "deploylab"}
	if c.ExpiresAt != "" {
		labels["expires-at"] = c.ExpiresAt
	}
	args := gke.ClusterArgs{
		Project:            g.Project,
		Region:             g.Region,
		Zone:               g.Zone,
		CNI:                g.CNI,
		Autopilot:          g.Autopilot,
		MachineType:        g.MachineType,
		MinNodes:           *g.MinNodes,
		MaxNodes:           *g.MaxNodes,
		Spot:               *g.Spot,
		ReleaseChannel:     g.ReleaseChannel,
		SubnetCidr:         g.SubnetCidr,
		PodsCidr:           g.PodsCidr,
		ServicesCidr:       g.ServicesCidr,
		MasterCidr:         g.MasterCidr,
		AdminCidrs:         c.AdminCidrs,
		Labels:             labels,
		DeletionProtection: c.Env == "prod",
		// A class's cluster holds node upgrades (which drain nodes) until the class is over.
		NoUpgradesUntil: c.ExpiresAt,
	}
	args.SetDefaults()
	return args
}

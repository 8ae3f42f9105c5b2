package plan

import (
	"fmt"
	"sort"

	"github.com/deploylab/deploylab/infra"
)

// Prices are list prices in USD, On-Demand, us-east-1 (AWS) and us-central1 (GCP), as published on the
// providers' pricing pages in 2024 (aws.amazon.com/ec2/pricing/on-demand, aws.amazon.com/ebs/pricing,
// aws.amazon.com/elasticloadbalancing/pricing, aws.amazon.com/vpc/pricing for public IPv4 since 2024-02-01,
// cloud.google.com/kubernetes-engine/pricing, cloud.google.com/compute/vm-instance-pricing). Other regions
// are typically 5-25% dearer; the estimate is a guide for a class budget, not a bill.
var (
	hourlyEC2 = map[string]float64{
		"t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832, "t3.xlarge": 0.1664,
	}
	hourlyGCE = map[string]float64{"e2-medium": 0.0335, "e2-standard-2": 0.0670, "e2-standard-4": 0.1340}
)

const (
	hoursPerMonth     = 730
	gp3PerGiBMonth    = 0.08
	publicIPv4Hourly  = 0.005
	albHourly         = 0.0225
	albLCUHourly      = 0.008 // one LCU: a small app's traffic
	gkeClusterHourly  = 0.10  // per cluster, Standard and Autopilot; the free tier credits one cluster
	gceSpotDiscount   = 0.3   // Spot VMs cost roughly 30% of On-Demand (they vary, 60-91% off)
	cloudNATHourly    = 0.045
	autopilotPodVCPUh = 0.0445 // Autopilot bills pod requests: vCPU-hour
	autopilotPodGiBh  = 0.0049225
)

const (
	// Cloud NAT with AUTO_ONLY allocates an external IPv4 address, billed like any in-use external address.
	natIPHourly = 0.005
	// The GKE free tier: $74.40 a month per billing account, for zonal and Autopilot clusters only.
	gkeFreeTierMonthly = 74.40
)

// Cost is an estimated monthly cost, itemised.
type Cost struct {
	Items []CostItem `json:"items"`
	Total float64    `json:"monthlyUSD"`
	Note  string     `json:"note"`
}

// CostItem is one line of the estimate.
type CostItem struct {
	What    string  `json:"what"`
	Monthly float64 `json:"monthlyUSD"`
}

// Estimate prices what the plan would create. Unknown instance types are listed at zero with a note rather than
// guessed.
func Estimate(cfg *infra.Config, resources []Resource) Cost {
	c := Cost{Note: "list prices (USD, us-east-1 / us-central1, 2024); data transfer and LCUs beyond one excluded"}
	add := func(what string, monthly float64) { c.Items = append(c.Items, CostItem{what, monthly}) }
	for _, r := range resources {
		switch r.Type {
		case "aws:ec2/instance:Instance":
			typ, _ := r.Inputs["instanceType"].(string)
			price, known := hourlyEC2[typ]
			label := fmt.Sprintf("EC2 %s %s", r.Name, typ)
			if !known {
				label += " (price not in table)"
			}
			add(label, price*hoursPerMonth)
			add("public IPv4 of "+r.Name, publicIPv4Hourly*hoursPerMonth)
			add("gp3 root of "+r.Name, gp3PerGiBMonth*rootSize(r))
		case "aws:ebs/volume:Volume":
			size, _ := r.Inputs["size"].(float64)
			add("gp3 volume "+r.Name, gp3PerGiBMonth*size)
		case "aws:lb/loadBalancer:LoadBalancer":
			add("ALB "+r.Name, (albHourly+albLCUHourly)*hoursPerMonth)
		case "gcp:container/cluster:Cluster":
			add("GKE cluster fee "+r.Name, gkeClusterHourly*hoursPerMonth)
			if cfg.GKE.Autopilot || cfg.GKE.Zone != "" {
				add("GKE free tier credit (if the billing account's only zonal or Autopilot cluster)", -gkeFreeTierMonthly)
			}
			add("Cloud NAT", cloudNATHourly*hoursPerMonth)
			add("Cloud NAT external IP", natIPHourly*hoursPerMonth)
			if cfg.GKE.Autopilot {
				add("Autopilot pods (baseline 1 vCPU, 2 GiB requested)", (autopilotPodVCPUh+2*autopilotPodGiBh)*hoursPerMonth)
			}
		case "gcp:container/nodePool:NodePool":
			price := hourlyGCE[cfg.GKE.MachineType]
			if *cfg.GKE.Spot {
				price *= gceSpotDiscount
			}
			// A regional pool runs minNodes in each of three zones, a zonal one in its zone.
			zones := 3
			if cfg.GKE.Zone != "" {
				zones = 1
			}
			add(fmt.Sprintf("GKE nodes %dx%d %s", *cfg.GKE.MinNodes, zones, cfg.GKE.MachineType), price*hoursPerMonth*float64(*cfg.GKE.MinNodes*zones))
		}
	}
	sort.SliceStable(c.Items, func(i, j int) bool { return c.Items[i].What < c.Items[j].What })
	for _, item := range c.Items {
		c.Total += item.Monthly
	}
	return c
}

func rootSize(r Resource) float64 {
	root, _ := r.Inputs["rootBlockDevice"].(map[string]any)
	size, _ := root["volumeSize"].(float64)
	return size
}

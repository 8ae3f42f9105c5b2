// Package jenkins holds the pipelines and the plugin list of the Jenkins controller as plain files, so Jenkins
// users read and edit them as they are, and embeds them for components/jenkins, which installs them on the host.
package jenkins

import _ "embed"

// Plugins is plugins.txt: one plugin a line for jenkins-plugin-cli.
//
//go:embed plugins.txt
var Plugins string

// DeployPipeline is Jenkinsfile.deploy, the script of the app-deploy job.
//
//go:embed Jenkinsfile.deploy
var DeployPipeline string

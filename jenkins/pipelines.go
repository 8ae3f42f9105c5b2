// Package jenkins holds the pipelines and the plugin list of the Jenkins controller as plain files, so Jenkins
// users read and edit them as they are, and embeds them for components/jenkins, which installs them on the host.
package jenkins

import _ "embed"

// Plugins is plugins.txt: one pinned NAME:VERSION a line for jenkins-plugin-cli.
//
//go:embed plugins.txt
var Plugins string

// PluginsLock is plugins.lock: the resolve behind plugins.txt, with the core each plugin release requires.
//
//go:embed plugins.lock
var PluginsLock string

// DeployPipeline is Jenkinsfile.deploy, the script of the deploy/app-deploy job (dev-like stacks).
//
//go:embed Jenkinsfile.deploy
var DeployPipeline string

// PromotePipeline is Jenkinsfile.promote, the script of the deploy/app-promote job (stacks that promote from another).
//
//go:embed Jenkinsfile.promote
var PromotePipeline string

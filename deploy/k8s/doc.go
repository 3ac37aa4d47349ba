// Package k8s holds the test of the Kubernetes manifests beside it (a
// kustomize base and its overlays): it renders each with the kustomize
// library, as kubectl apply -k does, decodes every object strictly into
// the Kubernetes and KEDA API types, and checks what a deployment of
// streamcart needs. It is a module of its own (deploy/go.mod), so that the
// Kubernetes libraries stay out of streamcart's dependencies.
package k8s

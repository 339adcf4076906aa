// podcheck reads static-pod manifests the way the kubelet's file source does
// (pkg/kubelet/config/common.go tryDecodeSinglePod in Kubernetes v1.20.2:
// YAML to JSON, decode with the API scheme, validate as a pod create, convert
// to v1) and prints, per file, one JSON line with the containers the kubelet
// would run, or the error it would log.
//
// It is built from the Kubernetes source tree with `go build -overlay`, so the
// tree itself is never modified (tests/integration/test_static_pod_kubelet.py).
package main

import (
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	api "k8s.io/kubernetes/pkg/apis/core"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	k8s_api_v1 "k8s.io/kubernetes/pkg/apis/core/v1"
	"k8s.io/kubernetes/pkg/apis/core/validation"
)

type result struct {
	File        string                 `json:"file"`
	Error       string                 `json:"error,omitempty"`
	Containers  []v1.Container         `json:"containers,omitempty"`
	Volumes     []v1.Volume            `json:"volumes,omitempty"`
	Annotations map[string]string      `json:"annotations,omitempty"`
	HostNetwork bool                   `json:"hostNetwork"`
	PodSecurity *v1.PodSecurityContext `json:"podSecurityContext,omitempty"`
}

func check(path string) result {
	r := result{File: path}
	data, err := ioutil.ReadFile(path)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	js, err := utilyaml.ToJSON(data)
	if err != nil {
		r.Error = "yaml: " + err.Error()
		return r
	}
	obj, err := runtime.Decode(legacyscheme.Codecs.UniversalDecoder(), js)
	if err != nil {
		r.Error = "decode: " + err.Error()
		return r
	}
	pod, ok := obj.(*api.Pod)
	if !ok {
		r.Error = fmt.Sprintf("invalid pod: %T", obj)
		return r
	}
	if errs := validation.ValidatePodCreate(pod, validation.PodValidationOptions{}); len(errs) > 0 {
		r.Error = fmt.Sprintf("invalid pod: %v", errs)
		return r
	}
	out := &v1.Pod{}
	if err := k8s_api_v1.Convert_core_Pod_To_v1_Pod(pod, out, nil); err != nil {
		r.Error = "convert: " + err.Error()
		return r
	}
	r.Containers = out.Spec.Containers
	r.Volumes = out.Spec.Volumes
	r.Annotations = out.Annotations
	r.HostNetwork = out.Spec.HostNetwork
	r.PodSecurity = out.Spec.SecurityContext
	return r
}

func main() {
	enc := json.NewEncoder(os.Stdout)
	for _, path := range os.Args[1:] {
		if err := enc.Encode(check(path)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

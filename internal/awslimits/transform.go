package awslimits

import (
	"reflect"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Register makes every AWS resource the program registers from now on wait for its limits check: a violation
// fails that resource's registration with an *Error, so neither `pulumi preview`/`up` nor `deploylab plan` (the
// same program on the mock engine) gets past it. Known values fail at once; values known only after other
// resources exist (user data rendered from outputs, say) are checked when they resolve, before the resource is
// sent to the engine.
//
// It uses the legacy stack transformation on purpose: it runs in the program's own process, so it works the same
// under the real engine and under pulumi.WithMocks, while RegisterResourceTransform goes through the engine, and
// the SDK's mock monitor silently skips it unless the mocks implement MockResourceMonitorWithTransforms.
func Register(ctx *pulumi.Context) error {
	return ctx.RegisterStackTransformation(transformation)
}

func transformation(args *pulumi.ResourceTransformationArgs) *pulumi.ResourceTransformationResult {
	if !strings.HasPrefix(args.Type, "aws:") || args.Props == nil {
		return nil
	}
	options, err := pulumi.NewResourceOptions(args.Opts...)
	dbr := err == nil && options.DeleteBeforeReplace
	typ, name := args.Type, args.Name
	check := pulumi.ToOutput(args.Props).ApplyT(func(v any) ([]pulumi.Resource, error) {
		r := Resource{Type: typ, Name: name, Inputs: Plain(reflect.ValueOf(v)).(map[string]any), DeleteBeforeReplace: dbr}
		if violations := Check(r); len(violations) > 0 {
			return nil, &Error{Violations: violations}
		}
		return nil, nil
	}).(pulumi.ResourceArrayOutput)
	return &pulumi.ResourceTransformationResult{
		Props: args.Props,
		Opts:  append(append([]pulumi.ResourceOption(nil), args.Opts...), pulumi.DependsOnInputs(check)),
	}
}

// Plain turns a resolved resource argument (the SDK's plain structs with `pulumi:"name"` tags, maps, slices,
// pointers) into maps keyed by property name, lists and scalars.
func Plain(v reflect.Value) any {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		out := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("pulumi"), ",")[0]
			if tag == "" || !t.Field(i).IsExported() {
				continue
			}
			if value := Plain(v.Field(i)); value != nil {
				out[tag] = value
			}
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for _, k := range v.MapKeys() {
			if value := Plain(v.MapIndex(k)); value != nil {
				out[k.String()] = value
			}
		}
		return out
	case reflect.Slice, reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = Plain(v.Index(i))
		}
		return out
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(v.Int())
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return v.Interface()
}

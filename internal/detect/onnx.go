package detect

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// The detector ships as a TensorFlow.js graph model (a JSON topology and
// a binary of weights). ONNX Runtime reads ONNX, so convert converts the
// few operations BlazeFace uses into an ONNX graph, in memory, at load
// time. TF.js lays tensors out NHWC; the ONNX graph is NCHW (ONNX's Conv),
// so weights are transposed as they are copied, the input is NCHW, and a
// Transpose back to NHWC comes before each Reshape, whose flat order is
// NHWC's. The batch dimension is left free, so tiles run as one batch.

type tfjsModel struct {
	ModelTopology struct {
		Node []tfjsNode `json:"node"`
	} `json:"modelTopology"`
	WeightsManifest []struct {
		Paths   []string `json:"paths"`
		Weights []struct {
			Name  string `json:"name"`
			Shape []int  `json:"shape"`
			Dtype string `json:"dtype"`
		} `json:"weights"`
	} `json:"weightsManifest"`
}

type tfjsNode struct {
	Name  string              `json:"name"`
	Op    string              `json:"op"`
	Input []string            `json:"input"`
	Attr  map[string]tfjsAttr `json:"attr"`
}

type tfjsAttr struct {
	S     string `json:"s"`
	Shape struct {
		Dim []struct {
			Size string `json:"size"`
		} `json:"dim"`
	} `json:"shape"`
	List struct {
		I []string `json:"i"`
		S []string `json:"s"`
	} `json:"list"`
}

func (a tfjsAttr) str() string {
	b, _ := base64.StdEncoding.DecodeString(a.S)
	return string(b)
}

func (a tfjsAttr) strs() []string {
	var out []string
	for _, s := range a.List.S {
		b, _ := base64.StdEncoding.DecodeString(s)
		out = append(out, string(b))
	}
	return out
}

func (a tfjsAttr) ints() ([]int64, error) {
	var out []int64
	for _, s := range a.List.I {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

type weight struct {
	shape []int
	f32   []float32
	i32   []int32
}

// convert returns the ONNX model (a serialized ModelProto) of a TF.js
// graph model and its weights, with one input "input" of shape
// [N, 3, size, size].
func convert(graphJSON, weights []byte) ([]byte, error) {
	var m tfjsModel
	if err := json.Unmarshal(graphJSON, &m); err != nil {
		return nil, fmt.Errorf("the model's graph: %w", err)
	}
	if len(m.WeightsManifest) != 1 {
		return nil, fmt.Errorf("the model's graph: %d weight groups, want 1", len(m.WeightsManifest))
	}
	ws := map[string]weight{}
	off := 0
	for _, w := range m.WeightsManifest[0].Weights {
		n := 1
		for _, d := range w.Shape {
			n *= d
		}
		if n < 0 || off+4*n > len(weights) {
			return nil, fmt.Errorf("the model's weights end before %s", w.Name)
		}
		b := weights[off : off+4*n]
		off += 4 * n
		x := weight{shape: w.Shape}
		switch w.Dtype {
		case "float32":
			x.f32 = make([]float32, n)
			for i := range x.f32 {
				x.f32[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		case "int32":
			x.i32 = make([]int32, n)
			for i := range x.i32 {
				x.i32[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
			}
		default:
			return nil, fmt.Errorf("the model's weight %s is %s", w.Name, w.Dtype)
		}
		ws[w.Name] = x
	}
	if off != len(weights) {
		return nil, fmt.Errorf("the model's weights are %d bytes, the graph names %d", len(weights), off)
	}

	g := &graph{}
	size := int64(0)
	for _, n := range m.ModelTopology.Node {
		in := n.Input
		switch n.Op {
		case "Const":
			if _, ok := ws[n.Name]; !ok {
				return nil, fmt.Errorf("the constant %s has no weights", n.Name)
			}
		case "Placeholder":
			d := n.Attr["shape"].Shape.Dim
			if g.input != "" || len(d) != 4 || d[1].Size != d[2].Size || d[3].Size != "3" {
				return nil, fmt.Errorf("the model's input %s is not one square RGB image", n.Name)
			}
			size, _ = strconv.ParseInt(d[1].Size, 10, 64)
			g.input = n.Name
		case "_FusedConv2D", "DepthwiseConv2dNative":
			if len(in) < 2 {
				return nil, fmt.Errorf("%s: %d inputs", n.Name, len(in))
			}
			w, ok := ws[in[1]]
			if !ok || len(w.shape) != 4 || w.f32 == nil {
				return nil, fmt.Errorf("%s: no 4-d filter %s", n.Name, in[1])
			}
			attrs, err := convAttrs(n, w.shape)
			if err != nil {
				return nil, err
			}
			kh, kw, ci, co := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
			var oihw []float32
			var shape []int64
			if n.Op == "DepthwiseConv2dNative" {
				// HWCM -> (C*M) 1 H W, one group per input channel.
				oihw = make([]float32, len(w.f32))
				for y := range kh {
					for x := range kw {
						for c := range ci {
							for m := range co {
								oihw[((c*co+m)*kh+y)*kw+x] = w.f32[((y*kw+x)*ci+c)*co+m]
							}
						}
					}
				}
				shape = []int64{int64(ci * co), 1, int64(kh), int64(kw)}
				attrs = append(attrs, attrInt("group", int64(ci)))
			} else {
				// HWIO -> OIHW.
				oihw = make([]float32, len(w.f32))
				for y := range kh {
					for x := range kw {
						for i := range ci {
							for o := range co {
								oihw[((o*ci+i)*kh+y)*kw+x] = w.f32[((y*kw+x)*ci+i)*co+o]
							}
						}
					}
				}
				shape = []int64{int64(co), int64(ci), int64(kh), int64(kw)}
			}
			wname := g.floats(in[1], shape, oihw)
			inputs := []string{in[0], wname}
			relu := false
			if n.Op == "_FusedConv2D" {
				ops := n.Attr["fused_ops"].strs()
				switch {
				case slices.Equal(ops, []string{"BiasAdd"}):
				case slices.Equal(ops, []string{"BiasAdd", "Relu"}):
					relu = true
				default:
					return nil, fmt.Errorf("%s: fused %v", n.Name, ops)
				}
				b, ok := ws[in[2]]
				if len(in) != 3 || !ok || b.f32 == nil {
					return nil, fmt.Errorf("%s: no bias", n.Name)
				}
				inputs = append(inputs, g.floats(in[2], []int64{int64(len(b.f32))}, b.f32))
			}
			out := n.Name
			if relu {
				out = n.Name + "/conv"
			}
			g.node("Conv", inputs, out, attrs...)
			if relu {
				g.node("Relu", []string{out}, n.Name)
			}
		case "AddV2":
			g.node("Add", in, n.Name)
		case "Relu":
			g.node("Relu", in, n.Name)
		case "Identity":
			g.node("Identity", in, n.Name)
			g.outputs = append(g.outputs, n.Name)
		case "MaxPool":
			k, err := n.Attr["ksize"].ints()
			if err != nil || len(k) != 4 {
				return nil, fmt.Errorf("%s: ksize", n.Name)
			}
			s, err := n.Attr["strides"].ints()
			if err != nil || len(s) != 4 {
				return nil, fmt.Errorf("%s: strides", n.Name)
			}
			pad, err := autoPad(n)
			if err != nil {
				return nil, err
			}
			g.node("MaxPool", in[:1], n.Name, attrInts("kernel_shape", k[1], k[2]), attrInts("strides", s[1], s[2]), pad)
		case "Pad":
			p, ok := ws[in[1]]
			if len(in) != 2 || !ok || len(p.i32) != 8 {
				return nil, fmt.Errorf("%s: paddings", n.Name)
			}
			// NHWC [[b,e]...] -> NCHW begins then ends.
			order := []int{0, 3, 1, 2}
			pads := make([]int64, 8)
			for i, axis := range order {
				pads[i] = int64(p.i32[2*axis])
				pads[4+i] = int64(p.i32[2*axis+1])
			}
			g.node("Pad", []string{in[0], g.ints(in[1], pads)}, n.Name)
		case "Reshape":
			p, ok := ws[in[1]]
			if len(in) != 2 || !ok || p.i32 == nil {
				return nil, fmt.Errorf("%s: shape", n.Name)
			}
			shape := make([]int64, len(p.i32))
			for i, d := range p.i32 {
				shape[i] = int64(d)
			}
			shape[0] = -1 // any batch
			g.node("Transpose", in[:1], n.Name+"/nhwc", attrInts("perm", 0, 2, 3, 1))
			g.node("Reshape", []string{n.Name + "/nhwc", g.ints(in[1], shape)}, n.Name)
		default:
			return nil, fmt.Errorf("%s: the operation %s is not supported", n.Name, n.Op)
		}
	}
	if g.input == "" || size <= 0 || len(g.outputs) == 0 {
		return nil, fmt.Errorf("the model's graph has no input or no output")
	}
	slices.Sort(g.outputs)
	return g.model(size), nil
}

func convAttrs(n tfjsNode, filter []int) ([]attribute, error) {
	s, err := n.Attr["strides"].ints()
	if err != nil || len(s) != 4 {
		return nil, fmt.Errorf("%s: strides", n.Name)
	}
	if d, _ := n.Attr["dilations"].ints(); len(d) > 0 && !slices.Equal(d, []int64{1, 1, 1, 1}) {
		return nil, fmt.Errorf("%s: dilations %v", n.Name, d)
	}
	if f := n.Attr["data_format"].str(); f != "" && f != "NHWC" {
		return nil, fmt.Errorf("%s: data format %s", n.Name, f)
	}
	pad, err := autoPad(n)
	if err != nil {
		return nil, err
	}
	return []attribute{attrInts("kernel_shape", int64(filter[0]), int64(filter[1])), attrInts("strides", s[1], s[2]), pad}, nil
}

// autoPad maps TensorFlow's padding to ONNX's: TF's SAME puts the odd
// pixel after, which is SAME_UPPER.
func autoPad(n tfjsNode) (attribute, error) {
	switch p := n.Attr["padding"].str(); p {
	case "SAME":
		return attrString("auto_pad", "SAME_UPPER"), nil
	case "VALID":
		return attrString("auto_pad", "VALID"), nil
	default:
		return attribute{}, fmt.Errorf("%s: padding %q", n.Name, p)
	}
}

// The ONNX protobuf, written by hand: the few messages and fields a
// graph of this kind needs (onnx.proto, IR version 7, opset 13).

type graph struct {
	input   string
	outputs []string
	nodes   [][]byte
	inits   [][]byte
	names   map[string]bool
}

type attribute []byte

func (g *graph) node(op string, inputs []string, output string, attrs ...attribute) {
	var b []byte
	for _, in := range inputs {
		b = pbBytes(b, 1, []byte(in))
	}
	b = pbBytes(b, 2, []byte(output))
	b = pbBytes(b, 3, []byte(output))
	b = pbBytes(b, 4, []byte(op))
	for _, a := range attrs {
		b = pbBytes(b, 5, a)
	}
	g.nodes = append(g.nodes, b)
}

// floats adds an initializer once under a name of its own.
func (g *graph) floats(name string, shape []int64, data []float32) string {
	raw := make([]byte, 4*len(data))
	for i, f := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return g.tensor(name+"/onnx", shape, 1, raw)
}

func (g *graph) ints(name string, data []int64) string {
	raw := make([]byte, 8*len(data))
	for i, n := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(n))
	}
	return g.tensor(name+"/onnx", []int64{int64(len(data))}, 7, raw)
}

func (g *graph) tensor(name string, shape []int64, dtype uint64, raw []byte) string {
	if g.names == nil {
		g.names = map[string]bool{}
	}
	if g.names[name] {
		return name
	}
	g.names[name] = true
	var b []byte
	for _, d := range shape {
		b = pbVarint(b, 1, uint64(d))
	}
	b = pbVarint(b, 2, dtype)
	b = pbBytes(b, 8, []byte(name))
	b = pbBytes(b, 9, raw)
	g.inits = append(g.inits, b)
	return name
}

func (g *graph) model(size int64) []byte {
	var gb []byte
	for _, n := range g.nodes {
		gb = pbBytes(gb, 1, n)
	}
	gb = pbBytes(gb, 2, []byte("blazeface"))
	for _, t := range g.inits {
		gb = pbBytes(gb, 5, t)
	}
	gb = pbBytes(gb, 11, valueInfo(g.input, []any{"N", int64(3), size, size}))
	for _, o := range g.outputs {
		gb = pbBytes(gb, 12, valueInfo(o, nil))
	}
	var m []byte
	m = pbVarint(m, 1, 7) // ir_version
	m = pbBytes(m, 2, []byte("sightline"))
	m = pbBytes(m, 7, gb)
	m = pbBytes(m, 8, pbVarint(nil, 2, 13)) // opset_import { version: 13 }
	return m
}

// valueInfo is a float tensor's ValueInfoProto; dims are int64 values
// or string parameters, and nil leaves the shape unstated.
func valueInfo(name string, dims []any) []byte {
	var tt []byte
	tt = pbVarint(tt, 1, 1) // elem_type FLOAT
	if dims != nil {
		var shape []byte
		for _, d := range dims {
			switch d := d.(type) {
			case int64:
				shape = pbBytes(shape, 1, pbVarint(nil, 1, uint64(d)))
			case string:
				shape = pbBytes(shape, 1, pbBytes(nil, 2, []byte(d)))
			}
		}
		tt = pbBytes(tt, 2, shape)
	}
	var b []byte
	b = pbBytes(b, 1, []byte(name))
	b = pbBytes(b, 2, pbBytes(nil, 1, tt))
	return b
}

func attrInt(name string, v int64) attribute {
	var b []byte
	b = pbBytes(b, 1, []byte(name))
	b = pbVarint(b, 3, uint64(v))
	b = pbVarint(b, 20, 2) // INT
	return b
}

func attrInts(name string, vs ...int64) attribute {
	var b []byte
	b = pbBytes(b, 1, []byte(name))
	for _, v := range vs {
		b = pbVarint(b, 8, uint64(v))
	}
	b = pbVarint(b, 20, 7) // INTS
	return b
}

func attrString(name, v string) attribute {
	var b []byte
	b = pbBytes(b, 1, []byte(name))
	b = pbBytes(b, 4, []byte(v))
	b = pbVarint(b, 20, 3) // STRING
	return b
}

func pbVarint(b []byte, field int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3)
	return binary.AppendUvarint(b, v)
}

func pbBytes(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

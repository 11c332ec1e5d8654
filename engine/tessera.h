// tessera/engine/tessera.h — everything the engine offers, in one include.
//   #include "engine/tessera.h"
//   using namespace tessera;
//   Tensor w = randn({3, 2}).requires_grad_();
//   Tensor loss = matmul(x, w).relu().sum();
//   loss.backward();            // w.grad() now holds dL/dw
#pragma once

#include "engine/autograd.h"
#include "engine/blas.h"
#include "engine/error.h"
#include "engine/gradcheck.h"
#include "engine/graph_draw.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "engine/shape.h"
#include "engine/tensor.h"

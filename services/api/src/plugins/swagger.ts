import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

export const apiTitle = 'Ledger API';
export const apiVersion = '1.0.0';
export const docsPrefix = '/docs';

/** A route's `security` in the OpenAPI document: the bearer access token below. */
export const bearerSecurity = [{ bearerAuth: [] }];

/**
 * The OpenAPI 3.1 document, generated from the routes' zod schemas (so it cannot drift from
 * what is validated and serialised), and Swagger UI at /docs. Registered before the routes,
 * which it learns about through Fastify's onRoute hook.
 */
export default fp(
  async function openapi(app: FastifyInstance) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: apiTitle,
          version: apiVersion,
          description:
            'Event-sourced banking ledger. Errors are RFC 9457 application/problem+json; amounts are decimal strings.',
        },
        components: {
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          },
        },
        tags: [{ name: 'operations', description: 'Health, readiness and metrics' }],
      },
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    });

    await app.register(swaggerUi, {
      routePrefix: docsPrefix,
      // No call to the public validator service: the docs work offline and leak nothing.
      uiConfig: { validatorUrl: null, deepLinking: true },
    });
  },
  { name: 'swagger' },
);

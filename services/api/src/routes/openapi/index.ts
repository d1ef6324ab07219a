import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

/** The OpenAPI document at the address API.md gives; Swagger UI at /docs reads the same one. */
const openapi: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/openapi.json',
    {
      schema: {
        hide: true,
        response: { 200: z.looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string() }) }) },
      },
    },
    async () => app.swagger() as unknown as { openapi: string; info: { title: string } },
  );
};

export default openapi;
